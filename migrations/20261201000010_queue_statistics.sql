-- The queue tables take bursts (a signup storm, a million-row digest) much faster than the
-- default autovacuum thresholds (20 % of the table changed) notice: on a young table the planner
-- then works from statistics that say the queue is empty. Vacuum and analyse them after ~1-2 %
-- changes instead, and without the cost-based pauses, so dead tuples and stale estimates never
-- build up for long. (Statements on claimed rows are also written so that no plan can scan the
-- pending set: see src/store/deliveries.rs.)
ALTER TABLE deliveries SET (
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE subscription_tokens SET (
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE subscribers SET (
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02
);

//! Where mail goes: an SMTP server, or a directory of `.eml` files for local development.

use std::path::PathBuf;

use lettre::address::Envelope;
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;

use super::settings::MailSettings;
use super::smtp::Payload;
use super::smtp::{SmtpPool, SmtpSendError};
use super::url::MailUrl;

pub enum MailTransport {
    Smtp(SmtpPool),
    File(PathBuf),
}

pub type SendError = SmtpSendError;

impl MailTransport {
    pub fn from_settings(settings: &MailSettings) -> anyhow::Result<Self> {
        let Some(url) = &settings.url else {
            anyhow::bail!("mail.url is not set; use smtp://host:port or file://DIR");
        };
        let url = MailUrl::parse(url.expose_secret()).map_err(|e| anyhow::anyhow!("mail.url: {e}"))?;
        Ok(match url {
            MailUrl::Smtp { host, port, tls, credentials } => {
                // EHLO names the sending domain, which is what receiving servers check it against.
                let client_id = ClientId::Domain(settings.from.email.domain().to_owned());
                let roots = settings.tls_roots().map_err(|e| anyhow::anyhow!("{}: {}", e.key, e.message))?;
                Self::Smtp(
                    SmtpPool::new(host, port, tls, credentials, client_id, &roots)
                        .map_err(|e| anyhow::anyhow!("mail.url: {e}"))?,
                )
            }
            MailUrl::File(dir) => {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("mail.url: cannot create directory {}: {e}", dir.display()))?;
                Self::File(dir)
            }
        })
    }

    /// Says goodbye to the server on idle connections (shutdown).
    pub async fn close(&self) {
        if let Self::Smtp(pool) = self {
            pool.close().await;
        }
    }

    pub async fn send(&self, envelope: &Envelope, message: &Payload) -> Result<(), SendError> {
        match self {
            Self::Smtp(pool) => pool.send(envelope, message).await,
            Self::File(dir) => {
                let message = message.plain().into_owned();
                // Written under a temporary name and renamed, so a reader never sees half a message.
                let name = uuid::Uuid::new_v4();
                let tmp = dir.join(format!(".{name}.tmp"));
                let path = dir.join(format!("{name}.eml"));
                let write = async {
                    tokio::fs::write(&tmp, message).await?;
                    tokio::fs::rename(&tmp, &path).await
                };
                write.await.map_err(|e| SendError::Transient(format!("writing {}: {e}", path.display())))
            }
        }
    }
}

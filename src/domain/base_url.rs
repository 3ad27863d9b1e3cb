//! The public address of the service, parsed once from `http.base_url`.

use serde::Deserialize;
use url::Url;

/// The public address of the service, used in every link we mail. Always without a trailing
/// slash, so `format!("{base}/path")` is right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(input: &str) -> Result<Self, String> {
        let url = Url::parse(input).map_err(|e| format!("{input:?} is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("{input:?} must be an http:// or https:// URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{input:?} must not have a query or fragment"));
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// `{base}{path}` where `path` starts with `/`.
    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.0)
    }
}

impl<'de> Deserialize<'de> for BaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        BaseUrl::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::BaseUrl;

    #[test]
    fn base_url_loses_its_trailing_slash() {
        assert_eq!(BaseUrl::parse("https://news.example.com/").unwrap().join("/x"), "https://news.example.com/x");
        assert!(BaseUrl::parse("ftp://x").is_err());
    }
}

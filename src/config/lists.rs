//! Keys that hold a list: a TOML list in a file, or (an environment variable being one string)
//! text with commas between the items.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, SeqAccess, Visitor};

/// `["a", "b"]` or `"a, b"`; blank items between commas are dropped, so `""` is an empty list.
/// Generic over the item so that secrets (`SecretString`) never pass through a plain `String`
/// field on the way.
pub(super) fn list_or_commas<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    struct ListOrCommas<T>(PhantomData<T>);

    impl<'de, T: From<String>> Visitor<'de> for ListOrCommas<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of text, or text with commas between the items")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<T>, E> {
            Ok(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| T::from(s.to_owned())).collect())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Vec<T>, A::Error> {
            let mut list = Vec::with_capacity(items.size_hint().unwrap_or(0));
            while let Some(item) = items.next_element::<String>()? {
                list.push(T::from(item));
            }
            Ok(list)
        }
    }

    d.deserialize_any(ListOrCommas(PhantomData))
}

//! Signing and checking link tokens: formats, purposes, expiry, rotation, hidden ids.

use super::*;
use proptest::prelude::*;

fn keys(secrets: &[&str]) -> TokenKeys {
    TokenKeys::new(&secrets.iter().map(|s| SecretString::from((*s).to_owned())).collect::<Vec<_>>()).unwrap()
}

fn random() -> String {
    TokenKeys::generate_secret().unwrap().expose_secret().to_owned()
}

fn later() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp() + 3600, 0).unwrap()
}

#[test]
fn a_signed_token_says_what_was_signed() {
    let k = keys(&[&random()]);
    let id = Uuid::new_v4();
    for claims in [Claims::confirm(id, 7, later()), Claims::unsubscribe(id, later())] {
        let token = k.sign(&claims);
        assert!(token.expose().len() <= MAX_CHARS);
        assert_eq!(k.check(token.expose()), Some(LinkToken::Signed(claims)));
    }
}

#[test]
fn any_changed_byte_is_refused() {
    let k = keys(&[&random()]);
    let token = k.sign(&Claims::confirm(Uuid::new_v4(), 0, later()));
    let bytes = URL_SAFE_NO_PAD.decode(token.expose()).unwrap();
    for i in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[i] ^= 1;
        assert_eq!(k.check(&URL_SAFE_NO_PAD.encode(&changed)), None, "byte {i}");
    }
    assert_eq!(k.check(&token.expose()[1..]), None);
    assert_eq!(k.check(&format!("{}A", token.expose())), None);
}

#[test]
fn the_first_key_signs_and_every_key_verifies() {
    let (old, new) = (random(), random());
    let before = keys(&[&old]).sign(&Claims::unsubscribe(Uuid::new_v4(), later()));
    let rotated = keys(&[&new, &old]);
    assert!(rotated.check(before.expose()).is_some(), "an old key still verifies");
    let after = rotated.sign(&Claims::unsubscribe(Uuid::new_v4(), later()));
    assert!(keys(&[&new]).check(after.expose()).is_some(), "the first key signs");
    assert_eq!(keys(&[&new]).check(before.expose()), None, "a retired key's tokens are refused");
}

/// A UUIDv7 made at `millis` after the epoch, as a signup at that moment makes it.
fn v7_at(millis: u64) -> Uuid {
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, millis / 1000, (millis % 1000) as u32 * 1_000_000);
    Uuid::new_v7(ts)
}

#[test]
fn a_token_tells_nothing_of_when_its_subscriber_signed_up() {
    let k = keys(&[&random()]);
    let (earlier, later_id) = (v7_at(1_765_000_000_000), v7_at(1_765_000_000_001));
    let mut hidden = Vec::new();
    for id in [earlier, later_id] {
        for claims in [Claims::confirm(id, 3, later()), Claims::unsubscribe(id, later())] {
            let token = k.sign(&claims);
            let bytes = URL_SAFE_NO_PAD.decode(token.expose()).unwrap();
            let time = &id.as_bytes()[..6];
            assert!(!bytes.windows(6).any(|w| w == time), "the signup time shows in {bytes:?}");
            assert!(!bytes.windows(16).any(|w| w == id.as_bytes()), "the id shows");
            assert_eq!(k.check(token.expose()), Some(LinkToken::Signed(claims)), "and comes back");
            hidden.push(bytes[3..19].to_vec());
        }
    }
    // One subscriber's links share the hidden id; a millisecond later looks nothing alike.
    assert_eq!(hidden[0], hidden[1]);
    let shared = hidden[0].iter().zip(&hidden[2]).take_while(|(a, b)| a == b).count();
    assert!(shared < 3, "ids a millisecond apart share a {shared}-byte prefix: {hidden:?}");
}

#[test]
fn tokens_mailed_with_the_id_in_clear_still_verify_until_they_expire() {
    let (old, new) = (random(), random());
    let signer = keys(&[&old]);
    let id = v7_at(1_765_000_000_000);
    // As the release before made them: format 1, the subscriber id in clear.
    let clear = |claims: &Claims| {
        let key = &signer.keys[0];
        let mut bytes = vec![FORMAT_CLEAR_ID, key.id, claims.purpose.byte()];
        bytes.extend_from_slice(claims.subscriber.as_bytes());
        bytes.extend_from_slice(&u32::try_from(claims.expires_at.timestamp()).unwrap().to_be_bytes());
        if let Some(version) = claims.version {
            bytes.extend_from_slice(&version.to_be_bytes());
        }
        let mut mac = key.mac.clone();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    };
    for claims in [Claims::confirm(id, 2, later()), Claims::unsubscribe(id, later())] {
        let token = clear(&claims);
        assert_eq!(signer.check(&token), Some(LinkToken::Signed(claims)));
        assert_eq!(keys(&[&new, &old]).check(&token), Some(LinkToken::Signed(claims)), "after a rotation");
        assert_eq!(keys(&[&new]).check(&token), None, "its key retired");
        // Read as the new format its id would come out scrambled: the tag covers the format.
        let mut relabelled = URL_SAFE_NO_PAD.decode(&token).unwrap();
        relabelled[0] = FORMAT;
        assert_eq!(signer.check(&URL_SAFE_NO_PAD.encode(relabelled)), None);
    }
}

// The lengths docs/operations.md gives under "Links in mail".
#[test]
fn tokens_are_as_long_as_the_readme_says() {
    let k = keys(&[&random()]);
    let id = Uuid::now_v7();
    let far = DateTime::from_timestamp(i64::from(u32::MAX), 0).unwrap();
    let confirm = k.sign(&Claims::confirm(id, i32::MAX, far));
    let unsubscribe = k.sign(&Claims::unsubscribe(id, far));
    assert_eq!((confirm.expose().len(), URL_SAFE_NO_PAD.decode(confirm.expose()).unwrap().len()), (79, 59));
    assert_eq!((unsubscribe.expose().len(), URL_SAFE_NO_PAD.decode(unsubscribe.expose()).unwrap().len()), (74, 55));
    assert_eq!(confirm.expose().len(), MAX_CHARS);
}

proptest! {
    #[test]
    fn hiding_is_undone_exactly(id in any::<u128>()) {
        let k = keys(&[&URL_SAFE_NO_PAD.encode((0u8..32).collect::<Vec<u8>>())]);
        let key = &k.keys[0];
        let id = Uuid::from_u128(id);
        prop_assert_eq!(key.reveal(key.hide(id)), id);
    }
}

#[test]
fn old_random_tokens_are_told_apart() {
    let k = keys(&[&random()]);
    let old = Token::generate().unwrap();
    assert_eq!(k.check(old.expose()), Some(LinkToken::Stored(old.hash())));
}

#[test]
fn keys_must_be_long_and_random() {
    let short = |s: &str| TokenKeys::new(&[SecretString::from(s.to_owned())]).unwrap_err();
    assert_eq!(short("secret"), KeyError::TooShort(1));
    assert_eq!(short(&"0".repeat(64)), KeyError::NotRandom(1));
    assert_eq!(short(&"a".repeat(40)), KeyError::TooShort(1), "30 bytes of base64");
    assert!(TokenKeys::new(&[]).is_err());
    let hex: String = (0u8..32).map(|b| format!("{:02x}", b.wrapping_mul(37))).collect();
    keys(&[&hex]);
    keys(&[&STANDARD.encode((0u8..40).collect::<Vec<u8>>())]);
}

#[test]
fn debug_shows_no_key() {
    let secret = random();
    assert!(!format!("{:?}", keys(&[&secret])).contains(&secret));
}

proptest! {
    #[test]
    fn check_never_panics(input in ".{0,120}") {
        let _ = keys(&[&URL_SAFE_NO_PAD.encode((0u8..32).collect::<Vec<u8>>())]).check(&input);
    }
}

#[test]
fn a_preferences_token_says_so_and_is_as_long_as_an_unsubscribe_token() {
    let k = keys(&[&random()]);
    let id = Uuid::now_v7();
    let claims = Claims::preferences(id, later());
    let token = k.sign(&claims);
    assert_eq!(k.check(token.expose()), Some(LinkToken::Signed(claims)));
    assert_eq!(token.expose().len(), 74);
    // The purpose is under the tag: relabelled as an unsubscribe link (or back), it is refused.
    let mut bytes = URL_SAFE_NO_PAD.decode(token.expose()).unwrap();
    bytes[2] = TokenPurpose::Unsubscribe.byte();
    assert_eq!(k.check(&URL_SAFE_NO_PAD.encode(&bytes)), None);
    let unsubscribe = k.sign(&Claims::unsubscribe(id, later()));
    let mut bytes = URL_SAFE_NO_PAD.decode(unsubscribe.expose()).unwrap();
    bytes[2] = TokenPurpose::Preferences.byte();
    assert_eq!(k.check(&URL_SAFE_NO_PAD.encode(&bytes)), None);
}

#[test]
fn purposes_have_distinct_bytes() {
    let all = [TokenPurpose::Confirm, TokenPurpose::Unsubscribe, TokenPurpose::Preferences];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a.byte(), b.byte());
        }
    }
}

#[test]
fn a_preferences_token_in_the_clear_id_format_is_refused() {
    // Format 1 was retired before preference links existed: none can be genuine.
    let k = keys(&[&random()]);
    let key = &k.keys[0];
    let mut bytes = vec![FORMAT_CLEAR_ID, key.id, TokenPurpose::Preferences.byte()];
    bytes.extend_from_slice(Uuid::now_v7().as_bytes());
    bytes.extend_from_slice(&u32::try_from(later().timestamp()).unwrap().to_be_bytes());
    let mut mac = key.mac.clone();
    mac.update(&bytes);
    bytes.extend_from_slice(&mac.finalize().into_bytes());
    assert_eq!(k.check(&URL_SAFE_NO_PAD.encode(bytes)), None);
}

use super::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn access_and_secret_key_format() {
    let ak = generate_access_key();
    assert_eq!(ak.len(), 20);
    assert!(
        ak.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{ak}"
    );
    let sk = generate_secret_key();
    assert_eq!(sk.len(), 40);
    assert!(sk.bytes().all(|b| b.is_ascii_alphanumeric()), "{sk}");
    assert_ne!(generate_access_key(), ak);
    assert_ne!(generate_secret_key(), sk);
}

#[test]
fn generated_keys_use_the_whole_alphabet() {
    // 200 x 40 chars: every one of the 62 symbols should appear (miss chance ~1e-50).
    let all: String = (0..200).map(|_| generate_secret_key()).collect();
    for &c in ALNUM {
        assert!(all.as_bytes().contains(&c), "{}", char::from(c));
    }
}

#[test]
fn secret_box_round_trip() {
    let (sb, key) = SecretBox::generate().unwrap();
    assert_eq!(sb.key_hex(), hex::encode(key));
    let sealed = sb.seal("FAKESKabcdefghijklmnopqrstuvwxyz", "AK123");
    assert_eq!(
        sb.open(&sealed, "AK123").unwrap(),
        "FAKESKabcdefghijklmnopqrstuvwxyz"
    );
    // Random nonce: sealing twice differs.
    assert_ne!(sb.seal("x", "AK123"), sb.seal("x", "AK123"));
    assert_eq!(sb.open(&sb.seal("", ""), "").unwrap(), "");
    // A reloaded key opens what the original sealed.
    let reloaded = SecretBox::from_key_hex(&format!("{}\n", sb.key_hex())).unwrap();
    assert_eq!(
        reloaded.open(&sealed, "AK123").unwrap(),
        "FAKESKabcdefghijklmnopqrstuvwxyz"
    );
}

#[test]
fn secret_box_rejects_wrong_associated_data_or_key() {
    let (sb, _) = SecretBox::generate().unwrap();
    let sealed = sb.seal("secret", "AK1");
    assert!(matches!(sb.open(&sealed, "AK2"), Err(AuthError::Unseal)));
    let (other, _) = SecretBox::generate().unwrap();
    assert!(matches!(other.open(&sealed, "AK1"), Err(AuthError::Unseal)));
}

#[test]
fn secret_box_rejects_tampering() {
    let (sb, _) = SecretBox::generate().unwrap();
    let sealed = hex::decode(sb.seal("secret", "AK1")).unwrap();
    for i in 0..sealed.len() {
        let mut t = sealed.clone();
        t[i] ^= 0x01;
        assert!(
            matches!(sb.open(&hex::encode(&t), "AK1"), Err(AuthError::Unseal)),
            "byte {i}"
        );
    }
    for bad in [
        String::new(),
        "zz".to_owned(),
        hex::encode(&sealed[..NONCE_LEN + TAG_LEN - 1]),
        hex::encode(&sealed[..sealed.len() - 1]),
    ] {
        assert!(
            matches!(sb.open(&bad, "AK1"), Err(AuthError::Unseal)),
            "{bad:?}"
        );
    }
}

#[test]
fn secret_box_key_parsing_and_debug() {
    assert!(matches!(
        SecretBox::from_key_hex("00"),
        Err(AuthError::InvalidKey)
    ));
    assert!(matches!(
        SecretBox::from_key_hex(&"g".repeat(64)),
        Err(AuthError::InvalidKey)
    ));
    assert!(matches!(
        SecretBox::from_key_hex(&"0".repeat(66)),
        Err(AuthError::InvalidKey)
    ));
    let sb = SecretBox::from_key_hex(&"ab".repeat(32)).unwrap();
    let dbg = format!("{sb:?}");
    assert!(!dbg.contains("ab"), "{dbg}");
    assert!(!dbg.contains("171"), "{dbg}");
}

#[test]
fn key_file_created_with_mode_0600_and_reloaded() {
    let mut suffix = [0u8; 8];
    random_bytes(&mut suffix).unwrap();
    let path = std::env::temp_dir().join(format!(
        "vpcep-auth-test-{}-{}.key",
        std::process::id(),
        hex::encode(suffix)
    ));
    let result = std::panic::catch_unwind(|| {
        let created = load_or_create_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim(), created.key_hex());
        let sealed = created.seal("sk", "ak");
        let reloaded = load_or_create_key_file(&path).unwrap();
        assert_eq!(reloaded.key_hex(), created.key_hex());
        assert_eq!(reloaded.open(&sealed, "ak").unwrap(), "sk");
        // A corrupt file is an error, never silently replaced.
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            load_or_create_key_file(&path),
            Err(AuthError::InvalidKey)
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key");
    });
    let _ = std::fs::remove_file(&path);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn key_file_in_missing_directory_is_an_io_error() {
    let path = std::env::temp_dir()
        .join("vpcep-auth-no-such-dir-7f3a")
        .join("server.key");
    assert!(matches!(
        load_or_create_key_file(&path),
        Err(AuthError::Io(_))
    ));
}

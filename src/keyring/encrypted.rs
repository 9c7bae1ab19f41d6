//! Encrypted PEM private keys, opened with the keyring password (`KeyringPw` or the first line of
//! `KeyringStashFile`):
//!
//! - PKCS#8 `ENCRYPTED PRIVATE KEY` blocks (what `openssl pkcs8 -topk8 -v2 aes-256-cbc`,
//!   `openssl genpkey -aes256` and OpenSSL 3's `openssl rsa -aes256` write): PBES2 with PBKDF2
//!   (HMAC-SHA-1 or SHA-2) or scrypt, and AES-CBC, AES-GCM or 3DES. The older PBES1 schemes
//!   (`-v1`) are refused with a hint to encrypt the key again.
//! - OpenSSL's traditional form (`Proc-Type: 4,ENCRYPTED` and `DEK-Info` headers inside an
//!   `RSA PRIVATE KEY` or `EC PRIVATE KEY` block, from `openssl rsa -aes256 -traditional` and older
//!   tools): AES-128/192/256-CBC or DES-EDE3-CBC, the key made from the password and the first 8
//!   bytes of the IV with one round of MD5 (OpenSSL's `EVP_BytesToKey`).
//!
//! Key-derivation costs are bounded before any work is done, so a crafted file cannot hold the
//! agent for minutes; a malformed block is an error, never a panic.

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipherDecrypt, BlockModeDecrypt, KeyInit, KeyIvInit};
use des::TdesEde3;
use md5::{Digest, Md5};
use pkcs8::der::{Decode, Tagged};
use pkcs8::pkcs5::pbes2::Kdf;
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

/// Most PBKDF2 iterations accepted (OpenSSL writes 2048; password managers up to about 600,000).
const MAX_PBKDF2_ITERATIONS: u32 = 1_000_000;
/// Most scrypt work accepted: 128 × N × r × p bytes (OpenSSL's default, N=16384 r=8 p=1, is 16 MiB).
const MAX_SCRYPT_BYTES: u64 = 1 << 30;

/// Why an encrypted key could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum DecryptError {
    /// The password does not decrypt it (or the ciphertext was changed).
    WrongPassword,
    /// An encryption scheme or parameter this reader does not take, described.
    Unsupported(String),
    /// The block is not well-formed.
    Damaged(String),
}

/// Decrypts the PEM `block` (a whole BEGIN..END block) of type `kind` with `password`.
pub(super) fn decrypt(
    kind: &str,
    block: &str,
    password: &str,
) -> Result<PrivateKeyDer<'static>, DecryptError> {
    let parsed = pem::parse(block).map_err(|e| DecryptError::Damaged(e.to_string()))?;
    if let Some(proc_type) = parsed.headers().get("Proc-Type") {
        if proc_type.trim() != "4,ENCRYPTED" {
            return Err(DecryptError::Damaged(format!("Proc-Type `{proc_type}` is not `4,ENCRYPTED`")));
        }
        let dek_info = parsed
            .headers()
            .get("DEK-Info")
            .ok_or_else(|| DecryptError::Damaged("Proc-Type without a DEK-Info header".into()))?;
        let der = decrypt_traditional(dek_info, parsed.contents(), password)?;
        return match kind {
            "RSA PRIVATE KEY" => Ok(PrivatePkcs1KeyDer::from(der).into()),
            "EC PRIVATE KEY" => Ok(PrivateSec1KeyDer::from(der).into()),
            _ => {
                PrivateKeyInfoRef::from_der(&der).map_err(|_| DecryptError::WrongPassword)?;
                Ok(PrivatePkcs8KeyDer::from(der).into())
            }
        };
    }
    decrypt_pkcs8(parsed.contents(), password).map(|der| PrivatePkcs8KeyDer::from(der).into())
}

/// Decrypts a DER `EncryptedPrivateKeyInfo` into a DER `PrivateKeyInfo` (PKCS#8).
fn decrypt_pkcs8(der: &[u8], password: &str) -> Result<Vec<u8>, DecryptError> {
    let info = EncryptedPrivateKeyInfoRef::from_der(der).map_err(|e| {
        DecryptError::Unsupported(format!("a scheme that does not decode as PKCS#5 PBES2 ({e})"))
    })?;
    let params = info
        .encryption_algorithm
        .pbes2()
        .ok_or_else(|| DecryptError::Unsupported(format!("PBES1 ({})", info.encryption_algorithm.oid())))?;
    check_kdf_cost(&params.kdf)?;
    let clear = params.decrypt(password, info.encrypted_data.as_bytes()).map_err(|e| match e {
        pkcs8::pkcs5::Error::DecryptFailed => DecryptError::WrongPassword,
        other => DecryptError::Unsupported(format!("PBES2 parameters it cannot use ({other})")),
    })?;
    // A wrong password that happens to leave valid padding yields no PrivateKeyInfo.
    PrivateKeyInfoRef::from_der(&clear).map_err(|_| DecryptError::WrongPassword)?;
    Ok(clear)
}

/// Refuses key-derivation parameters that are invalid or would take too long.
fn check_kdf_cost(kdf: &Kdf) -> Result<(), DecryptError> {
    match kdf {
        Kdf::Pbkdf2(p) if p.iteration_count == 0 || p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(DecryptError::Unsupported(format!(
                "PBKDF2 with {} iterations (attls takes 1 to {MAX_PBKDF2_ITERATIONS})",
                p.iteration_count
            )))
        }
        Kdf::Scrypt(p) => {
            let n = p.cost_parameter;
            let (r, parallel) = (u64::from(p.block_size), u64::from(p.parallelization));
            let bytes =
                128u64.checked_mul(n).and_then(|b| b.checked_mul(r)).and_then(|b| b.checked_mul(parallel));
            let usable = n >= 2 && n.is_power_of_two() && r >= 1 && parallel >= 1;
            match bytes {
                Some(bytes) if usable && bytes <= MAX_SCRYPT_BYTES => Ok(()),
                _ => Err(DecryptError::Unsupported(format!(
                    "scrypt N={n} r={r} p={parallel} (attls takes N a power of two and 128·N·r·p up to 1 GiB)"
                ))),
            }
        }
        _ => Ok(()),
    }
}

/// Decrypts the body of a traditional encrypted PEM key given its `DEK-Info` (`CIPHER,HEXIV`).
fn decrypt_traditional(dek_info: &str, body: &[u8], password: &str) -> Result<Vec<u8>, DecryptError> {
    let (cipher, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| DecryptError::Damaged(format!("DEK-Info `{dek_info}` has no IV")))?;
    let cipher = cipher.trim();
    let iv = hex(iv_hex.trim())
        .ok_or_else(|| DecryptError::Damaged(format!("DEK-Info IV `{iv_hex}` is not hex")))?;
    let (key_len, block_len) = match cipher {
        "AES-128-CBC" => (16, 16),
        "AES-192-CBC" => (24, 16),
        "AES-256-CBC" => (32, 16),
        "DES-EDE3-CBC" => (24, 8),
        other => return Err(DecryptError::Unsupported(format!("the traditional PEM cipher {other}"))),
    };
    if iv.len() != block_len {
        return Err(DecryptError::Damaged(format!(
            "the {cipher} IV has {} bytes, not {block_len}",
            iv.len()
        )));
    }
    let key = bytes_to_key(password.as_bytes(), &iv[..8], key_len);
    let clear = match cipher {
        "AES-128-CBC" => cbc_decrypt::<Aes128>(&key, &iv, body),
        "AES-192-CBC" => cbc_decrypt::<Aes192>(&key, &iv, body),
        "AES-256-CBC" => cbc_decrypt::<Aes256>(&key, &iv, body),
        _ => cbc_decrypt::<TdesEde3>(&key, &iv, body),
    }?;
    if !is_one_der_sequence(&clear) {
        return Err(DecryptError::WrongPassword);
    }
    Ok(clear)
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], body: &[u8]) -> Result<Vec<u8>, DecryptError>
where
    C: BlockCipherDecrypt + KeyInit,
{
    let decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| DecryptError::Damaged("the key or IV has the wrong length".into()))?;
    // Bad padding: the usual sign of a wrong password.
    decryptor.decrypt_padded_vec::<Pkcs7>(body).map_err(|_| DecryptError::WrongPassword)
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one round: D1 = MD5(password ‖ salt),
/// Dn = MD5(Dn-1 ‖ password ‖ salt), concatenated to `len` bytes.
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut previous: Vec<u8> = Vec::new();
    while key.len() < len {
        let mut md5 = Md5::new();
        md5.update(&previous);
        md5.update(password);
        md5.update(salt);
        previous = md5.finalize().to_vec();
        key.extend_from_slice(&previous);
    }
    key.truncate(len);
    key
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// Whether `der` is exactly one DER SEQUENCE (what every private key structure is).
fn is_one_der_sequence(der: &[u8]) -> bool {
    pkcs8::der::asn1::AnyRef::from_der(der).is_ok_and(|any| any.tag() == pkcs8::der::Tag::Sequence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_key_matches_openssl() {
        // `openssl enc -aes-256-cbc -P -md md5 -S 0102030405060708 -pass pass:secret` prints this key.
        let key = bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        let shown: String = key.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(shown, "C9E5A1BD216DBE1317E230CEF48F38EE7F0E17AD64022144BCCEC4A1AA2879AB");
        assert_eq!(bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 16), key[..16]);
    }

    #[test]
    fn costs_and_malformed_blocks_are_errors() {
        let block = |headers: &str| {
            format!(
                "-----BEGIN RSA PRIVATE KEY-----\n{headers}\n\nAAAAAAAAAAAAAAAAAAAAAA==\n-----END RSA PRIVATE KEY-----\n"
            )
        };
        let cases = [
            ("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC", "no IV"),
            ("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,XYZ", "not hex"),
            ("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,0011", "IV has 2 bytes"),
            ("Proc-Type: 4,ENCRYPTED", "without a DEK-Info"),
            ("Proc-Type: 4,MIC-ONLY\nDEK-Info: AES-256-CBC,00", "not `4,ENCRYPTED`"),
        ];
        for (headers, want) in cases {
            match decrypt("RSA PRIVATE KEY", &block(headers), "pw") {
                Err(DecryptError::Damaged(why)) => assert!(why.contains(want), "{headers}: {why}"),
                other => panic!("{headers}: {other:?}"),
            }
        }
        let des = block("Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-CBC,0011223344556677");
        assert!(matches!(decrypt("RSA PRIVATE KEY", &des, "pw"), Err(DecryptError::Unsupported(_))));
        // 16 bytes that are not the ciphertext of anything under this password.
        let aes = block("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF");
        assert_eq!(decrypt("RSA PRIVATE KEY", &aes, "pw"), Err(DecryptError::WrongPassword));
        let garbage = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(decrypt("ENCRYPTED PRIVATE KEY", garbage, "pw"), Err(DecryptError::Unsupported(_))));
    }
}

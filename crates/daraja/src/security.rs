//! `SecurityCredential` for Transaction Status, Account Balance and Reversal:
//! base64(RSA-encrypt(initiator password)) with PKCS#1 v1.5 padding, under the public key of
//! the certificate Safaricom gives (sandbox or production; the user supplies it).

use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use x509_cert::der::{DecodePem, Encode};

use crate::error::{Error, Result};

pub fn security_credential(initiator_password: &str, certificate_pem: &str) -> Result<String> {
    if initiator_password.is_empty() {
        return Err(Error::invalid(
            "initiator_password",
            "the initiator's password",
            "",
        ));
    }
    let bad_cert = |why: String| {
        Error::invalid(
            "certificate",
            "a PEM X.509 certificate with an RSA key",
            why,
        )
    };
    let cert = x509_cert::Certificate::from_pem(certificate_pem.as_bytes())
        .map_err(|e| bad_cert(e.to_string()))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| bad_cert(e.to_string()))?;
    let key = rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|e| bad_cert(e.to_string()))?;
    let sealed = key
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Pkcs1v15Encrypt,
            initiator_password.as_bytes(),
        )
        .map_err(|e| bad_cert(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_certificate() {
        let e = security_credential(
            "pw",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("certificate: expected a PEM X.509 certificate"),
            "{e}"
        );
        assert!(security_credential("", "x").is_err());
    }
}

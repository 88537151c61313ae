//! Request signatures of the three exchanges: what string each one signs, and the hex
//! HMAC-SHA256 over it.
//!
//! The strings differ in small ways that are easy to get wrong (Bybit puts the key and the receive
//! window before the parameters, MEXC puts the key and the time, Binance signs only the
//! parameters), so each construction lives here once, next to the published vectors that pin it.

use contracts::auth::hmac_sha256_hex;

/// Lowercase hex HMAC-SHA256 of `message` under `secret`.
pub fn sign(secret: &str, message: &str) -> String {
    hmac_sha256_hex(secret.as_bytes(), message.as_bytes())
}

/// Bybit v5: `timestamp + api_key + recv_window + (query string | raw JSON body)`.
pub fn bybit_payload(
    timestamp_ms: i64,
    api_key: &str,
    recv_window_ms: u32,
    params: &str,
) -> String {
    format!("{timestamp_ms}{api_key}{recv_window_ms}{params}")
}

/// Binance (and MEXC spot v3): the signature covers the total parameters, i.e. the query string
/// followed by the form body, without the `signature` parameter itself.
pub fn binance_signature(secret: &str, total_params: &str) -> String {
    sign(secret, total_params)
}

/// MEXC futures: `access_key + request_time + (sorted query | raw JSON body)`.
pub fn mexc_payload(access_key: &str, request_time_ms: i64, params: &str) -> String {
    format!("{access_key}{request_time_ms}{params}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The published examples of `exchanges/tests/vectors/signing.json`, as literals beside the
    /// signers; `literals_match_the_vector_file` keeps them in step with the file.
    struct Vector {
        section: &'static str,
        secret: &'static str,
        total_params: &'static str,
        signature: &'static str,
    }

    const BINANCE_FUTURES: Vector = Vector {
        section: "binance_usdm_futures",
        secret: "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9",
        total_params: "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943",
        signature: "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9",
    };

    const MEXC_SPOT_V3: Vector = Vector {
        section: "mexc_spot_v3",
        secret: "45d0b3c26f2644f19bfb98b07741b2f5",
        total_params: "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000&timestamp=1644489390087",
        signature: "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a",
    };

    #[test]
    fn binance_futures_published_example() {
        let v = BINANCE_FUTURES;
        assert_eq!(binance_signature(v.secret, v.total_params), v.signature);
    }

    #[test]
    fn mexc_spot_v3_published_example() {
        // MEXC spot v3 signs exactly like Binance: lowercase hex over the total params.
        let v = MEXC_SPOT_V3;
        assert_eq!(binance_signature(v.secret, v.total_params), v.signature);
    }

    #[test]
    fn literals_match_the_vector_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/signing.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("the signing vectors must be in the repository: {path}: {e}")
        });
        let file: Value = serde_json::from_str(&text).expect("signing.json is JSON");
        for v in [BINANCE_FUTURES, MEXC_SPOT_V3] {
            let s = &file[v.section];
            assert_eq!(s["secret"], v.secret, "{}", v.section);
            assert_eq!(s["total_params"], v.total_params, "{}", v.section);
            assert_eq!(s["signature"], v.signature, "{}", v.section);
        }
    }

    #[test]
    fn bybit_string_to_sign_follows_the_documented_order() {
        // The documented GET example: timestamp, key, window, then the query string unsorted.
        assert_eq!(
            bybit_payload(
                1658384314791,
                "XXXXXXXXXX",
                5000,
                "category=option&symbol=BTC-29JUL22-25000-C"
            ),
            "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
        );
        let body = r#"{"category":"linear","symbol":"BTCUSDT"}"#;
        let payload = bybit_payload(1658385579423, "key", 5000, body);
        assert_eq!(payload, format!("1658385579423key5000{body}"));
        // Same construction as an independent HMAC over the concatenation.
        assert_eq!(
            sign("secret", &payload),
            hmac_sha256_hex(b"secret", format!("1658385579423key5000{body}").as_bytes())
        );
        assert_eq!(sign("secret", &payload).len(), 64);
        assert!(sign("secret", &payload)
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2 pins the primitive itself.
        assert_eq!(
            sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn mexc_string_to_sign() {
        assert_eq!(
            mexc_payload("mx0key", 1611999999999, r#"{"symbol":"BTC_USDT"}"#),
            r#"mx0key1611999999999{"symbol":"BTC_USDT"}"#
        );
        assert_eq!(mexc_payload("mx0key", 1, ""), "mx0key1");
    }
}

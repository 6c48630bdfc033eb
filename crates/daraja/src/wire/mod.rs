//! Daraja's JSON bodies, as they are on the wire. Parsing is lenient where
//! Daraja is inconsistent: codes and amounts arrive as numbers or strings, optional blocks go
//! missing, items are read by name. Nothing here panics on any input.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

mod c2b;
mod result;

pub use c2b::*;
pub use result::*;

/// A result or response code that arrives as a JSON number (`0`, callbacks) or string (`"0"`,
/// queries; `"SFC_IC0003"`). Held as its string form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Code(pub String);

impl Code {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_zero(&self) -> bool {
        let s = self.0.trim();
        !s.is_empty() && s.bytes().all(|b| b == b'0')
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Code {
    fn from(s: &str) -> Code {
        Code(s.to_string())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Accepts a string, an integer or an integral float, as a string.
struct LenientString;

impl Visitor<'_> for LenientString {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            Ok((v as i64).to_string())
        } else {
            Ok(v.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        d.deserialize_any(LenientString).map(Code)
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(LenientString)
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<Value>::deserialize(d).map(|v| v.and_then(|v| value_string(&v)))
}

/// A JSON scalar as a string: `"10"`, `10`, `1.0` → `"1"`. `null`, arrays and objects → None.
pub fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON number or numeric string as whole units; `"5.00"` and `1.0` are whole, `4.99` is not.
pub fn value_whole(v: &Value) -> Option<u64> {
    let f = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (f >= 0.0 && f.fract() == 0.0 && f < 1e15).then_some(f as u64)
}

// ---- OAuth ----

#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// `"3599"` or `3599`.
    #[serde(deserialize_with = "lenient_string")]
    pub expires_in: String,
}

impl TokenResponse {
    pub fn expires_in_secs(&self) -> Option<u64> {
        self.expires_in.trim().parse().ok()
    }
}

// ---- errors ----

/// The synchronous error envelope; every field may be missing.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ErrorBody {
    #[serde(rename = "requestId", default, deserialize_with = "lenient_opt_string")]
    pub request_id: Option<String>,
    #[serde(rename = "errorCode", default, deserialize_with = "lenient_opt_string")]
    pub error_code: Option<String>,
    #[serde(
        rename = "errorMessage",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub error_message: Option<String>,
}

// ---- STK push ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionType {
    /// PayBill: PartyB is the shortcode.
    CustomerPayBillOnline,
    /// Till (Buy Goods): PartyB is the till number; BusinessShortCode the store number.
    CustomerBuyGoodsOnline,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StkPushRequest {
    #[serde(rename = "BusinessShortCode")]
    pub business_short_code: String,
    #[serde(rename = "Password")]
    pub password: String,
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    #[serde(rename = "TransactionType")]
    pub transaction_type: TransactionType,
    #[serde(rename = "Amount")]
    pub amount: u64,
    #[serde(rename = "PartyA")]
    pub party_a: String,
    #[serde(rename = "PartyB")]
    pub party_b: String,
    #[serde(rename = "PhoneNumber")]
    pub phone_number: String,
    #[serde(rename = "CallBackURL")]
    pub call_back_url: String,
    #[serde(rename = "AccountReference")]
    pub account_reference: String,
    #[serde(rename = "TransactionDesc")]
    pub transaction_desc: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StkPushResponse {
    #[serde(rename = "MerchantRequestID", deserialize_with = "lenient_string")]
    pub merchant_request_id: String,
    #[serde(rename = "CheckoutRequestID", deserialize_with = "lenient_string")]
    pub checkout_request_id: String,
    #[serde(rename = "ResponseCode")]
    pub response_code: Code,
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: String,
    #[serde(rename = "CustomerMessage", default)]
    pub customer_message: String,
}

// ---- STK query ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StkQueryRequest {
    #[serde(rename = "BusinessShortCode")]
    pub business_short_code: String,
    #[serde(rename = "Password")]
    pub password: String,
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: String,
}

/// A completed query answer. The query never carries the receipt, amount or phone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StkQueryResponse {
    #[serde(rename = "ResponseCode", default)]
    pub response_code: Option<Code>,
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: Option<String>,
    #[serde(
        rename = "MerchantRequestID",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub merchant_request_id: Option<String>,
    #[serde(
        rename = "CheckoutRequestID",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub checkout_request_id: Option<String>,
    #[serde(rename = "ResultCode", default)]
    pub result_code: Option<Code>,
    #[serde(rename = "ResultDesc", default)]
    pub result_desc: Option<String>,
}

// ---- STK callback ----

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct StkCallbackEnvelope {
    #[serde(rename = "Body")]
    pub body: StkCallbackBody,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct StkCallbackBody {
    #[serde(rename = "stkCallback")]
    pub stk_callback: StkCallback,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct StkCallback {
    #[serde(
        rename = "MerchantRequestID",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub merchant_request_id: Option<String>,
    #[serde(rename = "CheckoutRequestID", deserialize_with = "lenient_string")]
    pub checkout_request_id: String,
    #[serde(rename = "ResultCode")]
    pub result_code: Code,
    #[serde(rename = "ResultDesc", default)]
    pub result_desc: String,
    /// Absent on failures.
    #[serde(
        rename = "CallbackMetadata",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub callback_metadata: Option<CallbackMetadata>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct CallbackMetadata {
    #[serde(rename = "Item", default)]
    pub item: Vec<MetaItem>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MetaItem {
    #[serde(rename = "Name")]
    pub name: String,
    /// May be missing (`{"Name":"Balance"}`).
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl StkCallback {
    /// An item's value by name (never by position).
    pub fn item(&self, name: &str) -> Option<&Value> {
        self.callback_metadata
            .as_ref()?
            .item
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))?
            .value
            .as_ref()
    }
    /// Whole shillings (`1`, `1.0`, `"1.00"`).
    pub fn amount(&self) -> Option<u64> {
        self.item("Amount").and_then(value_whole)
    }
    pub fn receipt(&self) -> Option<String> {
        self.item("MpesaReceiptNumber")
            .and_then(value_string)
            .filter(|s| !s.is_empty())
    }
    /// `yyyyMMddHHmmss` in Nairobi time (a JSON number that does not fit in i32).
    pub fn transaction_date(&self) -> Option<u64> {
        self.item("TransactionDate").and_then(value_whole)
    }
    pub fn phone(&self) -> Option<String> {
        self.item("PhoneNumber").and_then(value_string)
    }
}

/// Parses an STK callback body; an error names what is wrong, and nothing panics.
pub fn parse_stk_callback(body: &[u8]) -> Result<StkCallback, serde_json::Error> {
    serde_json::from_slice::<StkCallbackEnvelope>(body).map(|e| e.body.stk_callback)
}

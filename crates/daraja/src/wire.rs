//! Daraja's JSON bodies, as they are on the wire. Parsing is lenient where
//! Daraja is inconsistent: codes and amounts arrive as numbers or strings, optional blocks go
//! missing, items are read by name. Nothing here panics on any input.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

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

// ---- C2B ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseType {
    Completed,
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterUrlRequest {
    #[serde(rename = "ShortCode")]
    pub short_code: String,
    #[serde(rename = "ResponseType")]
    pub response_type: ResponseType,
    #[serde(rename = "ConfirmationURL")]
    pub confirmation_url: String,
    #[serde(rename = "ValidationURL")]
    pub validation_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterUrlResponse {
    /// Misspelled on the wire ("Coversation"); the correct spelling is accepted too.
    #[serde(
        rename = "OriginatorCoversationID",
        alias = "OriginatorConversationID",
        default
    )]
    pub originator_conversation_id: Option<String>,
    #[serde(rename = "ConversationID", default)]
    pub conversation_id: Option<String>,
    /// `"0"`, `"00000000"`, or missing on some v2 accounts.
    #[serde(rename = "ResponseCode", default)]
    pub response_code: Option<Code>,
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: Option<String>,
}

/// Sandbox-only C2B simulate. Note Daraja's spelling `Msisdn`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct C2bSimulateRequest {
    #[serde(rename = "ShortCode")]
    pub short_code: String,
    #[serde(rename = "CommandID")]
    pub command_id: TransactionType,
    #[serde(rename = "Amount")]
    pub amount: u64,
    #[serde(rename = "Msisdn")]
    pub msisdn: String,
    #[serde(rename = "BillRefNumber", default)]
    pub bill_ref_number: String,
}

/// The validation and confirmation payload. All values are strings on the wire; numbers are
/// accepted too. `msisdn` may be masked (`2547 ***** 126`) or a SHA-256 hex digest: opaque.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct C2bPayload {
    #[serde(
        rename = "TransactionType",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub transaction_type: Option<String>,
    #[serde(rename = "TransID", default, deserialize_with = "lenient_opt_string")]
    pub trans_id: Option<String>,
    #[serde(rename = "TransTime", default, deserialize_with = "lenient_opt_string")]
    pub trans_time: Option<String>,
    #[serde(
        rename = "TransAmount",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub trans_amount: Option<String>,
    #[serde(
        rename = "BusinessShortCode",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub business_short_code: Option<String>,
    #[serde(
        rename = "BillRefNumber",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub bill_ref_number: Option<String>,
    #[serde(
        rename = "InvoiceNumber",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub invoice_number: Option<String>,
    #[serde(
        rename = "OrgAccountBalance",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub org_account_balance: Option<String>,
    #[serde(
        rename = "ThirdPartyTransID",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub third_party_trans_id: Option<String>,
    #[serde(rename = "MSISDN", default, deserialize_with = "lenient_opt_string")]
    pub msisdn: Option<String>,
    #[serde(rename = "FirstName", default, deserialize_with = "lenient_opt_string")]
    pub first_name: Option<String>,
    #[serde(
        rename = "MiddleName",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub middle_name: Option<String>,
    #[serde(rename = "LastName", default, deserialize_with = "lenient_opt_string")]
    pub last_name: Option<String>,
}

impl C2bPayload {
    /// Whole shillings from `"10"`, `"5.00"`.
    pub fn amount(&self) -> Option<u64> {
        self.trans_amount
            .as_ref()
            .and_then(|s| value_whole(&Value::String(s.clone())))
    }
}

/// What a validation endpoint answers: `{"ResultCode":"0","ResultDesc":"Accepted"}` or a
/// `C2B000xx` rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct C2bValidationResponse {
    #[serde(rename = "ResultCode")]
    pub result_code: Code,
    #[serde(rename = "ResultDesc")]
    pub result_desc: String,
    #[serde(
        rename = "ThirdPartyTransID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub third_party_trans_id: Option<String>,
}

// ---- Transaction Status and other async results ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransactionStatusRequest {
    #[serde(rename = "Initiator")]
    pub initiator: String,
    #[serde(rename = "SecurityCredential")]
    pub security_credential: String,
    #[serde(rename = "CommandID")]
    pub command_id: String,
    #[serde(rename = "TransactionID", skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(
        rename = "OriginalConversationID",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_conversation_id: Option<String>,
    #[serde(rename = "PartyA")]
    pub party_a: String,
    #[serde(rename = "IdentifierType")]
    pub identifier_type: String,
    #[serde(rename = "ResultURL")]
    pub result_url: String,
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_timeout_url: String,
    #[serde(rename = "Remarks")]
    pub remarks: String,
    #[serde(rename = "Occasion", skip_serializing_if = "Option::is_none")]
    pub occasion: Option<String>,
}

/// The synchronous acknowledgement of an async API (Transaction Status, balance, reversal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncAck {
    #[serde(
        rename = "OriginatorConversationID",
        alias = "OriginatorCoversationID",
        default
    )]
    pub originator_conversation_id: Option<String>,
    #[serde(rename = "ConversationID", default)]
    pub conversation_id: Option<String>,
    #[serde(rename = "ResponseCode", default)]
    pub response_code: Option<Code>,
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ResultEnvelope {
    #[serde(rename = "Result")]
    pub result: AsyncResult,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AsyncResult {
    #[serde(rename = "ResultType", default)]
    pub result_type: Option<Code>,
    #[serde(rename = "ResultCode")]
    pub result_code: Code,
    #[serde(rename = "ResultDesc", default)]
    pub result_desc: String,
    #[serde(
        rename = "OriginatorConversationID",
        alias = "Originator Conversation ID",
        default
    )]
    pub originator_conversation_id: Option<String>,
    #[serde(rename = "ConversationID", alias = "Conversation ID", default)]
    pub conversation_id: Option<String>,
    #[serde(
        rename = "TransactionID",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub transaction_id: Option<String>,
    #[serde(
        rename = "ResultParameters",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub result_parameters: Option<ResultParameters>,
    #[serde(
        rename = "ReferenceData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_data: Option<ReferenceData>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct ResultParameters {
    #[serde(rename = "ResultParameter", default)]
    pub result_parameter: OneOrMany<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct ReferenceData {
    #[serde(rename = "ReferenceItem", default)]
    pub reference_item: OneOrMany<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct KeyValue {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// A list that Daraja sometimes sends as a single object (`ReferenceItem`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::Many(v) => v,
            OneOrMany::One(t) => std::slice::from_ref(t),
        }
    }
}

impl AsyncResult {
    pub fn parameter(&self, key: &str) -> Option<&Value> {
        self.result_parameters
            .as_ref()?
            .result_parameter
            .as_slice()
            .iter()
            .find(|kv| kv.key.eq_ignore_ascii_case(key))?
            .value
            .as_ref()
    }
    /// The M-Pesa receipt from a Transaction Status result (`ReceiptNo`).
    pub fn receipt(&self) -> Option<String> {
        self.parameter("ReceiptNo")
            .and_then(value_string)
            .filter(|s| !s.is_empty())
    }
}

pub fn parse_result(body: &[u8]) -> Result<AsyncResult, serde_json::Error> {
    serde_json::from_slice::<ResultEnvelope>(body).map(|e| e.result)
}

pub fn parse_c2b(body: &[u8]) -> Result<C2bPayload, serde_json::Error> {
    serde_json::from_slice(body)
}

//! Transaction Status and the other asynchronous requests, and their Result bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

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

/// Transaction Reversal (`POST /mpesa/reversal/v1/request`): gives a customer back a payment
/// they made to the shortcode, by its M-Pesa receipt. `RecieverIdentifierType` is spelled as
/// Daraja spells it (the correct spelling is refused) and is `"11"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReversalRequest {
    #[serde(rename = "Initiator")]
    pub initiator: String,
    #[serde(rename = "SecurityCredential")]
    pub security_credential: String,
    /// Always `TransactionReversal`.
    #[serde(rename = "CommandID")]
    pub command_id: String,
    /// The receipt of the payment to reverse.
    #[serde(rename = "TransactionID")]
    pub transaction_id: String,
    /// Whole shillings.
    #[serde(rename = "Amount")]
    pub amount: u64,
    /// The shortcode that received the payment.
    #[serde(rename = "ReceiverParty")]
    pub receiver_party: String,
    #[serde(rename = "RecieverIdentifierType")]
    pub receiver_identifier_type: String,
    #[serde(rename = "ResultURL")]
    pub result_url: String,
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_timeout_url: String,
    /// 2 to 100 characters.
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
    /// A reversal result's receipt that was reversed (`OriginalTransactionID`).
    pub fn original_transaction(&self) -> Option<String> {
        self.parameter("OriginalTransactionID")
            .and_then(value_string)
            .filter(|s| !s.is_empty())
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

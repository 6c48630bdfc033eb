//! STK ResultCodes (Daraja's documented and observed codes): what each means for a payment, and what the
//! cashier is told, in English and Swahili.

/// What a code means for the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Success,
    /// No money moved and a new push will not help without a change (limits, configuration).
    Final,
    /// No money moved; a new push may succeed (cancelled, no answer, wrong PIN, busy).
    Retry,
    /// Still being processed: keep asking.
    Pending,
    /// Not in the table: needs reconciliation, never counted as a failure.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct CodeInfo {
    pub code: &'static str,
    pub class: Class,
    pub en: &'static str,
    pub sw: &'static str,
}

macro_rules! codes {
    ($($code:literal $class:ident $en:literal $sw:literal;)*) => {
        pub const TABLE: &[CodeInfo] = &[$(CodeInfo { code: $code, class: Class::$class, en: $en, sw: $sw }),*];
    };
}

codes! {
    "0" Success "Paid." "Imelipwa.";
    "1" Retry "The customer's M-Pesa balance is not enough. They can top up, then try again." "Salio la M-Pesa la mteja halitoshi. Aongeze salio, kisha ajaribu tena.";
    "2" Final "The amount is below the M-Pesa minimum." "Kiasi ni chini ya kiwango cha chini cha M-Pesa.";
    "3" Final "The amount is above the M-Pesa limit for one payment." "Kiasi kinazidi kikomo cha M-Pesa kwa malipo moja.";
    "4" Final "This payment would pass the customer's daily M-Pesa limit." "Malipo haya yangepita kikomo cha kila siku cha M-Pesa cha mteja.";
    "8" Final "The shop's M-Pesa account is at its maximum balance." "Akaunti ya M-Pesa ya duka imefikia salio la juu kabisa.";
    "17" Retry "Same amount to the same customer within 2 minutes. Wait 2 minutes and try again." "Kiasi kilekile kwa mteja yuleyule ndani ya dakika 2. Subiri dakika 2 ujaribu tena.";
    "26" Retry "M-Pesa is busy. Try again shortly." "M-Pesa ina shughuli nyingi. Jaribu tena baada ya muda mfupi.";
    "1001" Retry "The customer has another M-Pesa request open. Wait a minute and try again." "Mteja ana ombi lingine la M-Pesa. Subiri dakika moja ujaribu tena.";
    "1019" Retry "The request expired before the customer answered. Try again." "Ombi limeisha muda kabla mteja hajajibu. Jaribu tena.";
    "1025" Retry "M-Pesa could not send the prompt. Try again." "M-Pesa haikuweza kutuma ombi. Jaribu tena.";
    "9999" Retry "M-Pesa could not send the prompt. Try again." "M-Pesa haikuweza kutuma ombi. Jaribu tena.";
    "1032" Retry "The customer cancelled the request." "Mteja ameghairi ombi.";
    "1036" Retry "The prompt did not reach the phone. Try again." "Ombi halikufika kwenye simu. Jaribu tena.";
    "1037" Retry "No answer from the customer's phone (off, busy or ignored). Try again or take another payment." "Simu ya mteja haikujibu (imezimwa, ina shughuli au imepuuzwa). Jaribu tena au pokea malipo mengine.";
    "2001" Retry "Wrong M-Pesa PIN. The customer can try again." "PIN ya M-Pesa si sahihi. Mteja anaweza kujaribu tena.";
    "2028" Final "This till is not set up for this kind of payment. Check the PayBill/till settings." "Till hii haijawekwa kwa aina hii ya malipo. Angalia mipangilio ya PayBill/till.";
    "8006" Final "The customer's M-Pesa PIN is locked." "PIN ya M-Pesa ya mteja imefungwa.";
    "SFC_IC0003" Final "M-Pesa does not know this till. Check the PayBill/till settings." "M-Pesa haitambui till hii. Angalia mipangilio ya PayBill/till.";
    "E3008" Final "M-Pesa refused this customer's line." "M-Pesa imekataa laini ya mteja huyu.";
    "4999" Pending "Waiting for the customer to enter their M-Pesa PIN." "Tunasubiri mteja aweke PIN yake ya M-Pesa.";
    "500.001.1001" Pending "Waiting for the customer to enter their M-Pesa PIN." "Tunasubiri mteja aweke PIN yake ya M-Pesa.";
}

const UNKNOWN: CodeInfo = CodeInfo {
    code: "",
    class: Class::Unknown,
    en: "M-Pesa gave an answer we do not know. Check the customer's SMS before taking another payment.",
    sw: "M-Pesa imetoa jibu tusilolijua. Angalia SMS ya mteja kabla ya kupokea malipo mengine.",
};

/// The table entry for a code; unknown codes get the `Unknown` entry (with an empty `code`).
pub fn lookup(code: &str) -> &'static CodeInfo {
    let code = code.trim();
    if let Some(info) = TABLE.iter().find(|c| c.code == code) {
        return info;
    }
    if code.starts_with("500.003.") {
        // Rate limits on the query: the payment itself is still pending.
        return TABLE.iter().find(|c| c.code == "4999").expect("in table");
    }
    &UNKNOWN
}

pub fn class(code: &str) -> Class {
    lookup(code).class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_is_classified_and_translated() {
        for c in [
            "0",
            "1",
            "2",
            "3",
            "4",
            "8",
            "17",
            "26",
            "1001",
            "1019",
            "1025",
            "9999",
            "1032",
            "1036",
            "1037",
            "2001",
            "2028",
            "8006",
            "SFC_IC0003",
            "E3008",
            "4999",
        ] {
            let info = lookup(c);
            assert_eq!(info.code, c);
            assert!(
                !info.en.is_empty() && !info.sw.is_empty() && info.en != info.sw,
                "{c}"
            );
        }
        assert_eq!(class("0"), Class::Success);
        assert_eq!(class("1032"), Class::Retry);
        assert_eq!(class("2028"), Class::Final);
        assert_eq!(class("4999"), Class::Pending);
        assert_eq!(class("500.003.02"), Class::Pending);
        assert_eq!(class("1037"), Class::Retry, "1037 is terminal, not pending");
    }

    #[test]
    fn unknown_codes_are_never_failures() {
        for c in ["", "42", "X1", "500.002.01"] {
            assert_eq!(class(c), Class::Unknown, "{c}");
        }
        let codes: std::collections::HashSet<_> = TABLE.iter().map(|c| c.code).collect();
        assert_eq!(codes.len(), TABLE.len(), "no duplicate codes");
    }
}

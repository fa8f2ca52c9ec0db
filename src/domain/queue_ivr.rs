//! The inbound flow a `twilio_compatible` trunk serves its callers (callback instead of hold),
//! as TwiML text: what the caller hears and where the call goes next. The handler
//! (`api::queue_ivr`) verifies the provider, reads the queue's wait and creates the callback;
//! this module only says it.
//!
//! 1. The call comes in: [`offer`] says the estimated wait ([`spoken_wait`]) inside a
//!    `<Gather numDigits="1">` whose `action` is the choice URL, which carries the instant the
//!    call came in (`since`, Unix milliseconds) signed with the account's signing secret
//!    ([`since_signature`]: the provider's signature covers the URL for Twilio and SignalWire,
//!    not for Telnyx).
//! 2. The caller presses 1: a queue callback is made with `queued_since` = `since`, and
//!    [`confirmed`] says so and hangs up. Any other digit, or none: [`otherwise`], the
//!    operator's `inbound_redirect_url` (`<Redirect>`) or a polite goodbye.

use super::{SigningSecret, queue_wait::spoken_wait, twilio::xml_escape};

/// Where a caller who does not choose a callback goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Otherwise<'a> {
    /// The operator's flow (their hold queue): `<Redirect method="POST">`.
    Redirect(&'a str),
    /// Nowhere: the call ends politely.
    Goodbye,
}

const GOODBYE: &str = "<Say>Thank you for calling. Goodbye.</Say><Hangup/>";

fn response(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{body}</Response>")
}

fn otherwise_verbs(otherwise: Otherwise<'_>) -> String {
    match otherwise {
        Otherwise::Redirect(url) => {
            format!("<Redirect method=\"POST\">{}</Redirect>", xml_escape(url))
        }
        Otherwise::Goodbye => GOODBYE.to_owned(),
    }
}

/// The sentence that says a wait: `None` when nobody is working now.
fn wait_sentence(wait_seconds: Option<u32>) -> String {
    match wait_seconds {
        Some(s) => format!("The wait for an agent is {}.", spoken_wait(s)),
        None => "All of our agents are away at the moment.".to_owned(),
    }
}

/// The answer to an incoming call: the wait, and the choice of a callback; without a digit the
/// call goes on to `otherwise`.
pub fn offer(wait_seconds: Option<u32>, choice_url: &str, otherwise: Otherwise<'_>) -> String {
    response(&format!(
        "<Gather input=\"dtmf\" numDigits=\"1\" timeout=\"6\" method=\"POST\" action=\"{}\">\
         <Say>Thank you for calling. {} Press 1 to be called back, keeping your place in the \
         queue.</Say></Gather>{}",
        xml_escape(choice_url),
        wait_sentence(wait_seconds),
        otherwise_verbs(otherwise),
    ))
}

/// The answer to a caller who chose a callback and has one: it says when, then hangs up.
/// `wait_seconds` is the callback's estimated wait (`None`: unknown).
pub fn confirmed(wait_seconds: Option<u32>) -> String {
    let when = match wait_seconds {
        Some(s) => format!(" The wait is {}.", spoken_wait(s)),
        None => String::new(),
    };
    response(&format!(
        "<Say>Thank you. We will call you back at this number, keeping your place in the \
         queue.{when} Goodbye.</Say><Hangup/>"
    ))
}

/// The answer to a caller who did not choose a callback.
pub fn otherwise(otherwise: Otherwise<'_>) -> String {
    response(&otherwise_verbs(otherwise))
}

/// The answer when no callback can be made (no queue set for the trunk, or the number cannot
/// be called back).
pub fn unavailable(otherwise: Otherwise<'_>) -> String {
    response(&format!(
        "<Say>Sorry, we cannot offer a callback on this call.</Say>{}",
        otherwise_verbs(otherwise)
    ))
}

/// The signature of the choice URL's `since`: hex HMAC-SHA256, keyed with the account's
/// signing secret, of `"{path}:since={since}"`.
pub fn since_signature(secret: &SigningSecret, path: &str, since_ms: i64) -> String {
    secret.hmac_hex(format!("{path}:since={since_ms}").as_bytes())
}

/// Whether `signature` is [`since_signature`] of `since_ms` on `path`.
pub fn since_signature_valid(
    secret: &SigningSecret,
    path: &str,
    since_ms: i64,
    signature: &str,
) -> bool {
    secret.hmac_hex_valid(format!("{path}:since={since_ms}").as_bytes(), signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_says_the_wait_and_gathers_one_digit_for_the_escaped_choice_url() {
        let twiml = offer(
            Some(250),
            "https://rb.example/choice?since=1&sig=ab",
            Otherwise::Goodbye,
        );
        assert!(twiml.contains("numDigits=\"1\""), "{twiml}");
        assert!(twiml.contains("action=\"https://rb.example/choice?since=1&amp;sig=ab\""));
        assert!(twiml.contains("The wait for an agent is about 4 minutes."));
        assert!(twiml.contains("Press 1 to be called back"));
        assert!(
            twiml.ends_with(
                "</Gather><Say>Thank you for calling. Goodbye.</Say><Hangup/></Response>"
            )
        );
        let away = offer(
            None,
            "u",
            Otherwise::Redirect("https://ops.example/hold?x=<"),
        );
        assert!(away.contains("All of our agents are away"));
        assert!(
            away.contains("<Redirect method=\"POST\">https://ops.example/hold?x=&lt;</Redirect>")
        );
    }

    #[test]
    fn a_confirmation_says_the_wait_and_hangs_up() {
        let twiml = confirmed(Some(30));
        assert!(twiml.contains("We will call you back"));
        assert!(twiml.contains("less than a minute"));
        assert!(twiml.ends_with("<Hangup/></Response>"));
        assert!(!confirmed(None).contains("wait"));
    }

    #[test]
    fn the_since_signature_binds_the_instant_and_the_path() {
        let secret = SigningSecret::generate();
        let sig = since_signature(&secret, "/p", 1000);
        assert!(since_signature_valid(&secret, "/p", 1000, &sig));
        assert!(!since_signature_valid(&secret, "/p", 1001, &sig));
        assert!(!since_signature_valid(&secret, "/q", 1000, &sig));
        assert!(!since_signature_valid(
            &SigningSecret::generate(),
            "/p",
            1000,
            &sig
        ));
    }
}

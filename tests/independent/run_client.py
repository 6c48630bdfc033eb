#!/usr/bin/env python3
"""Drive an independent, third-party Daraja client (mpesakit, from PyPI) against a Daraja server.

Used to show that daraja-sim speaks the wire format a real-world client expects. The library is
used unchanged, through its public API only; the one thing we change is the base URL it talks to
(the public `MpesaClient.http_client.base_url` attribute, shared by all of its services).

Steps: (a) OAuth token, (b) STK push of KES 1 to a PayBill (CustomerPayBillOnline, PartyB =
shortcode), (c) STK push query polled every 0.5 s until the answer is no longer "still
processing" (HTTP 500 with errorCode 500.001.1001, or ResultCode "4999") or the time runs out.

Environment:
  DARAJA_BASE_URL         e.g. http://127.0.0.1:8080 (scheme://host[:port] only; no path)
  DARAJA_CONSUMER_KEY     DARAJA_CONSUMER_SECRET
  DARAJA_SHORTCODE        PayBill shortcode (BusinessShortCode and PartyB)
  DARAJA_PASSKEY          Lipa Na M-Pesa Online passkey
  DARAJA_PHONE            payer MSISDN, 2547XXXXXXXX (or 07..., +254...; the library normalizes
                          PhoneNumber but sends PartyA as given)
  DARAJA_CALLBACK_URL     CallBackURL sent with the push
  DARAJA_QUERY_TIMEOUT    seconds to keep polling the query (default 20)
  DARAJA_EXPECT_RESULT    final ResultCode that counts as success (default "0")
  DARAJA_ACCOUNT_REF      AccountReference (default "DukaIndep", at most 12 characters)

Stdout: one JSON line per step, then {"step":"done","result_code":"..."}. Exit 0 only when all
steps succeeded and the final ResultCode equals DARAJA_EXPECT_RESULT; otherwise a message on
stderr and exit 1 (2 for a configuration error). The consumer secret and the passkey are never
printed (nor the access token, nor the Password that encodes the passkey).
"""

import json
import os
import sys
import time
from typing import NoReturn
from urllib.parse import urlsplit

PENDING_ERROR_CODE = "500.001.1001"
PENDING_RESULT_CODE = "4999"
POLL_INTERVAL = 0.5

_SECRETS: list[str] = []


def redact(text: object) -> str:
    """Remove every configured secret from a message before it is printed."""
    s = str(text)
    for secret in _SECRETS:
        if secret:
            s = s.replace(secret, "***")
    return s


def emit(step: str, ok: bool, **fields: object) -> None:
    line = {"step": step, "ok": ok, **fields}
    print(redact(json.dumps(line, default=str, separators=(",", ":"))), flush=True)


def die(step: str, message: str, code: int = 1, **fields: object) -> NoReturn:
    emit(step, False, error=message, **fields)
    print(f"run_client: step '{step}' failed: {redact(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        die("config", f"environment variable {name} is required", code=2)
    return value


def describe_api_error(exc) -> dict:
    """Fields of an mpesakit MpesaApiException worth printing (the server's answer)."""
    err = exc.error
    return {
        "error_code": err.error_code,
        "http_status": err.status_code,
        "raw_response": err.raw_response,
    }


def describe_validation_error(exc) -> str:
    """A pydantic ValidationError as text, without the values it refused."""
    # include_input=False: the input of a request model holds the passkey.
    parts = []
    for e in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in e.get("loc", ())) or exc.title
        parts.append(f"{loc}: {e.get('msg')}")
    return f"{exc.title}: " + "; ".join(parts)


def validation_input(exc) -> object:
    """The body a response model refused (a response holds no secret of ours)."""
    for e in exc.errors(include_url=False):
        if not e.get("loc"):
            return e.get("input")
        if len(e["loc"]) == 1 and isinstance(e.get("input"), dict):
            return e["input"]
    return None


def main() -> int:
    base_url = env("DARAJA_BASE_URL")
    key = env("DARAJA_CONSUMER_KEY")
    secret = env("DARAJA_CONSUMER_SECRET")
    _SECRETS.append(secret)
    passkey = env("DARAJA_PASSKEY")
    _SECRETS.append(passkey)
    shortcode = env("DARAJA_SHORTCODE")
    phone = env("DARAJA_PHONE")
    callback_url = env("DARAJA_CALLBACK_URL")
    account_ref = env("DARAJA_ACCOUNT_REF", "DukaIndep")
    expect = env("DARAJA_EXPECT_RESULT", "0")
    try:
        query_timeout = float(env("DARAJA_QUERY_TIMEOUT", "20"))
    except ValueError:
        die("config", "DARAJA_QUERY_TIMEOUT must be a number of seconds", code=2)
    if not shortcode.isdigit():
        die("config", "DARAJA_SHORTCODE must be digits", code=2)

    u = urlsplit(base_url)
    if u.scheme not in ("http", "https") or not u.netloc:
        die("config", f"DARAJA_BASE_URL must be http(s)://host[:port], got {base_url!r}", code=2)
    if u.path not in ("", "/") or u.query or u.fragment:
        # mpesakit joins its absolute paths ("/oauth/v1/generate") with urljoin, which
        # would silently drop a path prefix: refuse instead of testing the wrong URL.
        die("config", f"DARAJA_BASE_URL must have no path (mpesakit drops it), got {base_url!r}",
            code=2)
    base_url = f"{u.scheme}://{u.netloc}"

    try:
        from importlib.metadata import version

        from mpesakit import MpesaClient
        from mpesakit.errors import MpesaApiException
        from pydantic import ValidationError
    except ImportError as e:
        die("config", f"cannot import mpesakit ({e}); run tests/independent/run.sh", code=2)
    lib = {"library": "mpesakit", "version": version("mpesakit")}

    client = MpesaClient(consumer_key=key, consumer_secret=secret, environment="sandbox")
    # The only change to the library's behaviour: its public base_url attribute. Every service
    # (token manager, STK push, STK query) shares this one http_client.
    client.http_client.base_url = base_url

    # (a) OAuth
    try:
        token = client.token_manager.get_token()
    except MpesaApiException as e:
        die("oauth", str(e), **describe_api_error(e))
    except ValidationError as e:
        die("oauth", describe_validation_error(e))
    except Exception as e:  # noqa: BLE001 - report anything the library raises
        die("oauth", f"{type(e).__name__}: {e}")
    if not token:
        die("oauth", "empty access token")
    emit("oauth", True, base_url=base_url, token_length=len(token), **lib)

    # (b) STK push
    try:
        push = client.stk_push(
            business_short_code=int(shortcode),
            transaction_type="CustomerPayBillOnline",
            amount=1,
            party_a=phone,
            party_b=shortcode,
            phone_number=phone,
            callback_url=callback_url,
            account_reference=account_ref,
            transaction_desc="Duka test",
            passkey=passkey,
        )
    except MpesaApiException as e:
        die("stk_push", str(e), **describe_api_error(e))
    except ValidationError as e:
        die("stk_push", describe_validation_error(e))
    except Exception as e:  # noqa: BLE001
        die("stk_push", f"{type(e).__name__}: {e}")
    if not push.is_successful():
        die("stk_push", f"ResponseCode {push.ResponseCode!r}: {push.ResponseDescription}",
            response=push.model_dump())
    checkout_id = push.CheckoutRequestID
    emit("stk_push", True, merchant_request_id=push.MerchantRequestID,
         checkout_request_id=checkout_id, response_code=str(push.ResponseCode),
         response_description=push.ResponseDescription)

    # (c) STK push query, polled until the answer is no longer "still processing"
    started = time.monotonic()
    deadline = started + query_timeout
    polls = 0
    pending = []  # short descriptions of the pending answers seen, in order
    while True:
        polls += 1
        answer = None
        try:
            answer = client.stk_query(
                business_short_code=int(shortcode),
                checkout_request_id=checkout_id,
                passkey=passkey,
            )
        except MpesaApiException as e:
            raw = e.error.raw_response
            if (e.error.status_code == 500 and isinstance(raw, dict)
                    and raw.get("errorCode") == PENDING_ERROR_CODE):
                pending.append(f"HTTP 500 {PENDING_ERROR_CODE} {raw.get('errorMessage', '')!r}")
            else:
                die("stk_query", str(e), polls=polls, **describe_api_error(e))
        except ValidationError as e:
            # mpesakit requires all six fields of a completed answer. A "pending" body without
            # them (HTTP 200 carrying errorCode 500.001.1001, or a bare ResultCode 4999) fails
            # its response model; recognise those shapes, fail on anything else.
            raw = validation_input(e)
            if isinstance(raw, dict) and (raw.get("errorCode") == PENDING_ERROR_CODE
                                          or str(raw.get("ResultCode")) == PENDING_RESULT_CODE):
                pending.append(f"HTTP 200 unparsed pending body {raw!r}")
            else:
                die("stk_query", describe_validation_error(e), polls=polls, raw_response=raw)
        except Exception as e:  # noqa: BLE001
            die("stk_query", f"{type(e).__name__}: {e}", polls=polls)

        if answer is not None:
            result_code = str(answer.ResultCode)
            if result_code == PENDING_RESULT_CODE:
                pending.append(f"HTTP 200 ResultCode {PENDING_RESULT_CODE} {answer.ResultDesc!r}")
            else:
                break

        if time.monotonic() + POLL_INTERVAL > deadline:
            die("stk_query", f"still processing after {query_timeout:g} s ({polls} polls); "
                f"last answer: {pending[-1] if pending else 'none'}",
                polls=polls, pending_answers=pending)
        time.sleep(POLL_INTERVAL)

    emit("stk_query", True, polls=polls, elapsed_s=round(time.monotonic() - started, 2),
         pending_answers=pending, response_code=str(answer.ResponseCode),
         result_code=result_code, result_desc=answer.ResultDesc,
         merchant_request_id=answer.MerchantRequestID,
         checkout_request_id=answer.CheckoutRequestID)
    print(json.dumps({"step": "done", "result_code": result_code}, separators=(",", ":")), flush=True)

    if answer.CheckoutRequestID != checkout_id:
        print(f"run_client: query answered for CheckoutRequestID {answer.CheckoutRequestID!r}, "
              f"expected {checkout_id!r}", file=sys.stderr)
        return 1
    if result_code != expect:
        print(f"run_client: final ResultCode {result_code!r} ({answer.ResultDesc}) "
              f"but DARAJA_EXPECT_RESULT is {expect!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

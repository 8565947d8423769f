"""Payload validation against the official OCPP 1.6 JSON schemas."""

from __future__ import annotations

import contextlib

import pytest
from pgcsms.proxy import ocppj
from pgcsms.proxy.ocppj import PayloadError, Validator

NOW = "2024-05-01T12:00:00Z"

SAMPLED = {"value": "1.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register",
           "context": "Sample.Periodic", "location": "Outlet", "format": "Raw", "phase": "L1"}

# At least one valid payload per charge point action, minimal and full.
VALID: dict[str, list[dict]] = {
    "Authorize": [{"idTag": "ABC"}, {"idTag": "x" * 20}],
    "BootNotification": [
        {"chargePointVendor": "V", "chargePointModel": "M"},
        {"chargePointVendor": "V", "chargePointModel": "M", "chargePointSerialNumber": "S",
         "chargeBoxSerialNumber": "B", "firmwareVersion": "1.0", "iccid": "I", "imsi": "J",
         "meterType": "T", "meterSerialNumber": "N"},
    ],
    "DataTransfer": [{"vendorId": "com.example"},
                     {"vendorId": "com.example", "messageId": "m", "data": "anything"}],
    "DiagnosticsStatusNotification": [{"status": s} for s in ("Idle", "Uploaded", "UploadFailed", "Uploading")],
    "FirmwareStatusNotification": [{"status": "Installed"}, {"status": "DownloadFailed"}],
    "Heartbeat": [{}],
    "MeterValues": [
        {"connectorId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "10"}]}]},
        {"connectorId": 1, "transactionId": 5,
         "meterValue": [{"timestamp": NOW, "sampledValue": [SAMPLED, {"value": "7", "measurand": "SoC",
                                                                     "unit": "Percent"}]}]},
    ],
    "StartTransaction": [{"connectorId": 1, "idTag": "ABC", "meterStart": 0, "timestamp": NOW},
                         {"connectorId": 2, "idTag": "ABC", "meterStart": 12, "timestamp": NOW,
                          "reservationId": 3}],
    "StatusNotification": [
        {"connectorId": 0, "errorCode": "NoError", "status": "Available"},
        {"connectorId": 1, "errorCode": "OtherError", "status": "Faulted", "info": "i", "timestamp": NOW,
         "vendorId": "v", "vendorErrorCode": "E1"},
    ],
    "StopTransaction": [
        {"transactionId": 1, "meterStop": 10, "timestamp": NOW},
        {"transactionId": 1, "meterStop": 10, "timestamp": NOW, "idTag": "ABC", "reason": "EVDisconnected",
         "transactionData": [{"timestamp": NOW, "sampledValue": [SAMPLED]}]},
    ],
    "SecurityEventNotification": [{"type": "StartupOfTheDevice", "timestamp": NOW},
                                  {"type": "x" * 50, "timestamp": NOW, "techInfo": "t" * 255}],
    "SignCertificate": [{"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----"}],
    "LogStatusNotification": [{"status": "Uploaded"}, {"status": "BadMessage", "requestId": 7}],
    "SignedFirmwareStatusNotification": [{"status": "SignatureVerified", "requestId": 2},
                                         {"status": "InstallRebooting"}],
}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator("1.6")


def code_of(validator: Validator, action: str, payload: dict) -> str:
    with pytest.raises(PayloadError) as caught:
        validator.check_request(action, payload)
    assert len(caught.value.description) <= 255
    return caught.value.code


def test_every_charge_point_action_has_an_example():
    assert set(VALID) == ocppj.CHARGE_POINT_ACTIONS["1.6"]


@pytest.mark.parametrize(("action", "payload"), [(a, p) for a, ps in VALID.items() for p in ps])
def test_valid_payloads_pass(validator, action, payload):
    validator.check_request(action, payload)


@pytest.mark.parametrize("action", sorted(ocppj.CHARGE_POINT_ACTIONS["1.6"] | ocppj.CENTRAL_SYSTEM_ACTIONS["1.6"]))
def test_every_action_has_request_and_response_schemas(validator, action):
    for check in (validator.check_request, validator.check_response):
        with contextlib.suppress(PayloadError):  # a KeyError would mean no schema
            check(action, {})


def test_unserved_versions_are_refused():
    with pytest.raises(ValueError, match=r"1\.5"):
        Validator("1.5")


# -- which CALLERROR a broken keyword earns ------------------------------------

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


@pytest.mark.parametrize(("action", "payload", "code"), [
    # type
    ("StatusNotification", {**STATUS, "connectorId": "1"}, "TypeConstraintViolation"),
    ("StatusNotification", {**STATUS, "connectorId": 1.5}, "TypeConstraintViolation"),
    ("Authorize", {"idTag": 5}, "TypeConstraintViolation"),
    ("MeterValues", {"connectorId": 1, "meterValue": {}}, "TypeConstraintViolation"),
    ("StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": None, "timestamp": NOW},
     "TypeConstraintViolation"),
    # required, minItems
    ("BootNotification", {"chargePointVendor": "V"}, "OccurrenceConstraintViolation"),
    ("StopTransaction", {"transactionId": 1, "timestamp": NOW}, "OccurrenceConstraintViolation"),
    ("MeterValues", {"connectorId": 1, "meterValue": []}, "OccurrenceConstraintViolation"),
    ("MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": []}]},
     "OccurrenceConstraintViolation"),
    # enum, maxLength
    ("StatusNotification", {**STATUS, "status": "Bogus"}, "PropertyConstraintViolation"),
    ("StopTransaction", {"transactionId": 1, "meterStop": 1, "timestamp": NOW, "reason": "Whim"},
     "PropertyConstraintViolation"),
    ("MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [
        {"value": "1", "measurand": "Energy"}]}]}, "PropertyConstraintViolation"),
    ("BootNotification", {**BOOT, "chargePointVendor": "V" * 21}, "PropertyConstraintViolation"),
    ("Authorize", {"idTag": "x" * 21}, "PropertyConstraintViolation"),
    ("LogStatusNotification", {"status": "Done"}, "PropertyConstraintViolation"),
    # additionalProperties
    ("BootNotification", {**BOOT, "extra": 1}, "FormatViolation"),
    ("Heartbeat", {"x": 1}, "FormatViolation"),
    ("SignCertificate", {"csr": "c", "typ": "x"}, "FormatViolation"),
    # format date-time
    ("StatusNotification", {**STATUS, "timestamp": "yesterday"}, "TypeConstraintViolation"),
    ("StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "2024-02-30T10:00:00Z"},
     "TypeConstraintViolation"),
])
def test_keyword_maps_to_call_error(validator, action, payload, code):
    assert code_of(validator, action, payload) == code


@pytest.mark.parametrize(("payload", "wire"), [
    ({"chargePointVendor": "V"}, "OccurenceConstraintViolation"),
    ({**BOOT, "extra": 1}, "FormationViolation"),
])
def test_renamed_codes_on_the_16_wire(validator, payload, wire):
    assert ocppj.wire_error_code(code_of(validator, "BootNotification", payload), "1.6") == wire


def test_description_says_where(validator):
    payload = {"connectorId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [
        {"value": "1", "phase": "L9"}]}]}
    with pytest.raises(PayloadError) as caught:
        validator.check_request("MeterValues", payload)
    assert caught.value.description.startswith("MeterValues meterValue/0/sampledValue/0/phase: ")


def test_description_of_a_payload_level_error(validator):
    with pytest.raises(PayloadError) as caught:
        validator.check_request("BootNotification", {"chargePointVendor": "V"})
    assert caught.value.description.startswith("BootNotification (payload): ")


def test_long_descriptions_are_truncated(validator):
    with pytest.raises(PayloadError) as caught:
        validator.check_request("Authorize", {"idTag": "x" * 1000})
    assert len(caught.value.description) == 255


def test_responses_are_checked_too(validator):
    validator.check_response("BootNotification", {"status": "Accepted", "currentTime": NOW, "interval": 300})
    validator.check_response("Reset", {"status": "Accepted"})
    with pytest.raises(PayloadError) as caught:
        validator.check_response("Reset", {"status": "Maybe"})
    assert caught.value.code == "PropertyConstraintViolation"
    assert caught.value.description.startswith("ResetResponse status: ")


# -- date-time: lenient about the offset, strict about the calendar ---------------

@pytest.mark.parametrize("value", [
    "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123Z", "2024-05-01T12:00:00.123456789Z",
    "2024-05-01T12:00:00+02:00", "2024-05-01T12:00:00-0530", "2024-05-01T12:00:00+02",
    "2024-05-01T12:00:00", "2024-05-01T12:00:00.5", "2024-05-01 12:00:00", "2024-05-01T12:00",
    "2024-05-01t12:00:00z", "2024-02-29T00:00:00Z", "1970-01-01T00:00:00Z",
])
def test_lenient_date_times_pass(validator, value):
    validator.check_request("StatusNotification", {**STATUS, "timestamp": value})


@pytest.mark.parametrize("value", [
    "2023-02-29T00:00:00Z", "2024-02-30T10:00:00Z", "2024-13-01T00:00:00Z", "2024-04-31T00:00:00Z",
    "2024-01-32T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z", "2024-05-01T12:00:61Z",
    "2024-05-01", "12:00:00", "2024-05-01T12:00:00 Z", "2024-05-01T12:00:00+2", "2024-05-01T12:00:00Zjunk",
    "2024-5-1T12:00:00Z", "", "now", "2024-05-01T12:00:00+25:00", "0000-01-01T00:00:00Z",
])
def test_impossible_date_times_are_refused(validator, value):
    assert code_of(validator, "StatusNotification", {**STATUS, "timestamp": value}) == "TypeConstraintViolation"

import json


async def test_boot_unknown_charge_point_is_pending(db):
    row = await db.fetchrow("SELECT result, error_code FROM ocpp.parse('CP-1', 'u1', 'BootNotification', $1::jsonb)",
                            json.dumps({"chargePointVendor": "V", "chargePointModel": "M"}))
    assert row["error_code"] is None
    assert json.loads(row["result"])["status"] == "Pending"

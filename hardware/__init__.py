"""Hardware beside the central system: RFID readers on serial ports (``pgcsms rfid``, :mod:`pgcsms.hardware.rfid`)."""

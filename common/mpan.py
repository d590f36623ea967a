"""MPAN cores: check digit and distributor IDs (used by tests and the data generator;
the register itself checks MPANs with the SHACL rules ARM-VAL-019..021)."""

from __future__ import annotations

WEIGHTS = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)

DISTRIBUTOR_IDS = {
    "UKPN_EPN": "10", "NGED_EMID": "11", "UKPN_LPN": "12", "SPEN_SPM": "13",
    "NGED_WMID": "14", "NPG_NE": "15", "ENWL": "16", "SSEN_SHEPD": "17",
    "SPEN_SPD": "18", "UKPN_SPN": "19", "SSEN_SEPD": "20", "NGED_WALES": "21",
    "NGED_SWEST": "22", "NPG_YK": "23",
}
GSP_GROUPS = {
    "UKPN_EPN": "_A", "NGED_EMID": "_B", "UKPN_LPN": "_C", "SPEN_SPM": "_D",
    "NGED_WMID": "_E", "NPG_NE": "_F", "ENWL": "_G", "SSEN_SHEPD": "_P",
    "SPEN_SPD": "_N", "UKPN_SPN": "_J", "SSEN_SEPD": "_H", "NGED_WALES": "_K",
    "NGED_SWEST": "_L", "NPG_YK": "_M",
}


def check_digit(first_twelve: str) -> int:
    total = sum(int(d) * w for d, w in zip(first_twelve, WEIGHTS, strict=True))
    return total % 11 % 10


def make_mpan(dno: str, serial: int) -> str:
    """A valid MPAN core for licence area `dno` (serial: any number below 10**10)."""
    first = DISTRIBUTOR_IDS[dno] + f"{serial:010d}"
    return first + str(check_digit(first))


def is_valid(mpan: str) -> bool:
    return len(mpan) == 13 and mpan.isdigit() and check_digit(mpan[:12]) == int(mpan[12])

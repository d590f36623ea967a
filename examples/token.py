"""Print the access token of `fmar token`'s JSON answer (read from standard input)."""

import json
import sys

print(json.load(sys.stdin)["access_token"])

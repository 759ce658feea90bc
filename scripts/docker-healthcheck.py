"""The web container's health check: GET /healthz as a client of the site would.

Django answers 400 to a Host it does not serve, so the probe presents the first name
in ALLOWED_HOSTS (a leading dot, "any subdomain", is dropped).
"""

import os
import sys
import urllib.error
import urllib.request

first_host = os.environ.get("ALLOWED_HOSTS", "").split(",")[0].strip().lstrip(".")
host = first_host if first_host not in ("", "*") else "localhost"
request = urllib.request.Request(
    f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz",
    headers={"Host": host},
)
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(response.read().decode())
except (urllib.error.URLError, OSError) as error:
    # HTTPError (503 with the failing check in its body) is a URLError too.
    body = error.read().decode() if isinstance(error, urllib.error.HTTPError) else ""
    print(f"unhealthy: {error} {body}".strip())
    sys.exit(1)

#!/usr/bin/env python3
# Writes, on stdout, the amplification messages of docs/performance.md:
# a report message whose one attachment is tiny on the wire and huge once
# decoded. KIND is one of
#
#   details   5,000,000 empty failure details ({}), a 20 KiB message
#   strings   5,000,000 empty strings ("") in a policy-string, 20 KiB
#   policies  1,000 reports of 1,000 empty policies in one zip
#
#   python3 bench/amplify.py details > details.eml
#   /usr/bin/time -f '%e s %M KiB' tlsrpt filter --db t.db < details.eml
import base64, gzip, io, json, sys, zipfile
def report(i, policies):
    return {"organization-name": "Amplifier", "date-range": {"start-datetime": "2026-11-01T00:00:00Z", "end-datetime": "2026-11-01T23:59:59Z"},
            "contact-info": "tlsrpt@amplifier.example", "report-id": "amp-%d" % i, "policies": policies}
kind = sys.argv[1]
pol = lambda **kw: dict({"policy": {"policy-type": "sts", "policy-domain": "example.com"}, "summary": {"total-successful-session-count": 0, "total-failure-session-count": 0}}, **kw)
if kind == "details":    # 5,000,000 empty failure details
    body = json.dumps(report(0, [pol()])).replace('"summary"', '"failure-details": [' + ",".join(["{}"] * 5000000) + '], "summary"', 1)
    data, ctype, name = gzip.compress(body.encode(), 9), "application/tlsrpt+gzip", "r.json.gz"
elif kind == "strings":  # 5,000,000 empty strings in a policy-string
    body = json.dumps(report(0, [pol()])).replace('"policy-type"', '"policy-string": [' + ",".join(['""'] * 5000000) + '], "policy-type"', 1)
    data, ctype, name = gzip.compress(body.encode(), 9), "application/tlsrpt+gzip", "r.json.gz"
elif kind == "policies": # 1,000 reports of 1,000 empty policies, one zip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(1000):
            z.writestr("r%d.json" % i, json.dumps(report(i, [{}] * 1000), separators=(",", ":")))
    data, ctype, name = buf.getvalue(), "application/zip", "r.zip"
sys.stdout.write("From: tlsrpt@amplifier.example\nSubject: Report\nMIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=tlsrpt; boundary=b\n\n--b\nContent-Type: text/plain\n\nA report.\n"
    "--b\nContent-Type: %s; name=%s\nContent-Disposition: attachment; filename=%s\nContent-Transfer-Encoding: base64\n\n%s--b--\n"
    % (ctype, name, name, base64.encodebytes(data).decode()))

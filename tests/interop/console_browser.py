#!/usr/bin/python3
"""console_browser.py - the web console driven in a real browser (Debian's
chromium, headless, through chromedriver and python3-selenium), as an
operator works: log in, watch the dashboard, approve a request while
`openssl cmp` polls for it, find a certificate and revoke it, see that a
subject that is markup stays text, see the dashboard count it all, log
out; a viewer's page has no approve button and the server refuses the form
all the same.  Screenshots of each page go to SHOTS.

Usage: console_browser.py CONSOLE-URL HTTP-PORT GW-DIR WORK-DIR SHOTS CMPGW RA-SUBJECT
Exits 0 when every check held, 1 otherwise (saying which), 77 when the
browser cannot be started.
"""
import json
import os
import re
import subprocess
import sys
import time

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
except ImportError:
    print("SKIP: python3-selenium is not installed")
    sys.exit(77)

URL, HPORT, GW, WORK, SHOTS, CMPGW, RA = sys.argv[1:8]
CONF = os.path.join(GW, "cmpgw.conf")


def fail(what):
    print("FAIL: " + what, flush=True)
    sys.exit(1)


def ok(what):
    print("   ok: " + what, flush=True)


def until(what, cond, seconds=60):
    """Waits for cond() to hold, for at most seconds; fails saying what."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    fail(what)


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def secret(*args):
    out = subprocess.run([CMPGW, "secret", "new", "-c", CONF, "--json", *args],
                         capture_output=True, text=True, check=True).stdout
    j = json.loads(out)
    return j["reference"], j["secret"]


def openssl_ir(path, ref, sec, subject, certout, log, sans=None):
    """openssl cmp ir with a key of its own (a key revoked for keyCompromise
    is never certified again)."""
    key = certout + ".key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", key], check=True, capture_output=True)
    cmd = ["openssl", "cmp", "-cmd", "ir", "-server", "127.0.0.1:" + HPORT, "-path", path,
           "-ref", ref, "-secret", "pass:" + sec, "-recipient", RA,
           "-newkey", key, "-trusted", os.path.join(GW, "ca-cert.pem"),
           "-subject", subject, "-certout", certout, "-total_timeout", "120"]
    if sans:
        cmd += ["-sans", sans]
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def login(driver, name, password):
    driver.get(URL + "/")
    until("the login page", lambda: driver.find_elements(By.ID, "login"))
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    until(name + " is not logged in", lambda: driver.find_elements(By.ID, "logout"))


def approvals_row(driver, text):
    """The approvals page's row of the request whose text has text, or None."""
    driver.get(URL + "/approvals")
    rows = [r for r in driver.find_elements(By.CSS_SELECTOR, "#approvals tr[data-txid]")
            if text in r.text]
    return rows[0] if rows else None


def no_alert(driver):
    try:
        driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def main():
    os.makedirs(SHOTS, exist_ok=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1000", "--user-data-dir=" + os.path.join(WORK, "chrome")):
        opts.add_argument(a)
    try:
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    except WebDriverException as e:
        print("SKIP: chromium did not start: %s" % str(e).splitlines()[0])
        sys.exit(77)
    driver.set_page_load_timeout(60)
    try:
        run(driver)
    finally:
        driver.quit()


def run(driver):
    # 1. log in; the dashboard
    driver.get(URL + "/")
    until("no redirect to the login page", lambda: driver.current_url.endswith("/login"))
    shot(driver, "01-login")
    login(driver, "alice", open(os.path.join(WORK, "alice.pw")).read().strip())
    until("no dashboard", lambda: driver.find_elements(By.ID, "activity"))
    shot(driver, "02-dashboard")
    ok("alice logged in; the dashboard shows its chart")

    # 2. approve while openssl cmp polls
    ref, sec = secret("--profile", "manual")
    cmp = openssl_ir(".well-known/cmp/p/manual", ref, sec, "/CN=browser device/O=console",
                     os.path.join(WORK, "browser.pem"), os.path.join(WORK, "browser.log"),
                     "browser.example")

    r = until("the request never showed on the approvals page",
              lambda: approvals_row(driver, "CN=browser device"))
    txid = r.get_attribute("data-txid")
    if "DNS:browser.example" not in r.text or "EC P-256" not in r.text:
        fail("the approvals row does not say what is asked: " + r.text)
    shot(driver, "03-approvals")
    r.find_element(By.CSS_SELECTOR, "button[name=approve]").click()
    until("no answer to the approval", lambda: "/approvals" in driver.current_url)
    until("openssl cmp did not get its certificate", lambda: cmp.poll() is not None, 120)
    if cmp.returncode != 0:
        fail("openssl cmp failed after the approval: " + open(os.path.join(WORK, "browser.log")).read())
    ok("approved %s in the browser; openssl cmp got its certificate" % txid)

    # 3. find the certificate, revoke it
    driver.get(URL + "/certs")
    q = driver.find_element(By.NAME, "q")
    q.send_keys("browser device")
    q.submit()
    until("the search found nothing",
          lambda: driver.find_elements(By.CSS_SELECTOR, "#certs tr[data-serial]"))
    serial = driver.find_element(By.CSS_SELECTOR, "#certs tr[data-serial]").get_attribute("data-serial")
    shot(driver, "04-certificates")
    driver.find_element(By.LINK_TEXT, serial).click()
    until("no certificate page", lambda: driver.find_elements(By.ID, "revoke"))
    shot(driver, "05-certificate")
    Select(driver.find_element(By.NAME, "crl_reason")).select_by_visible_text("keyCompromise")
    driver.find_element(By.CSS_SELECTOR, "#revoke button").click()
    until("the page does not say revoked",
          lambda: driver.find_elements(By.ID, "status") and
          driver.find_element(By.ID, "status").text == "revoked")
    shot(driver, "06-revoked")
    ref2, sec2 = secret()
    crl = os.path.join(WORK, "browser-crl.der")
    subprocess.run([CMPGW, "client", "genm", "--url",
                    "http://127.0.0.1:%s/.well-known/cmp" % HPORT, "--ref", ref2, "--secret",
                    sec2, "--infotype", "crlStatusList", "--trusted",
                    os.path.join(GW, "ca-cert.pem"), "--crlout", crl],
                   check=True, capture_output=True)
    text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", crl, "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    listed = {s.strip().lower().lstrip("0") for s in re.findall(r"Serial Number: *([0-9A-Fa-f]+)", text)}
    if serial.lstrip("0") not in listed:
        fail("the next CRL does not list %s" % serial)
    ok("found %s, revoked it (keyCompromise); the next CRL lists it" % serial)

    # 3b. a secret for a device, shown once with its QR code
    driver.get(URL + "/secrets")
    form = driver.find_element(By.ID, "new-secret")
    form.find_element(By.NAME, "ttl").send_keys("7d")
    form.find_element(By.NAME, "note").send_keys("browser test")
    form.find_element(By.CSS_SELECTOR, "button").click()
    until("no new secret shown", lambda: driver.find_elements(By.ID, "secret"))
    sref = driver.find_element(By.ID, "reference").text
    if len(driver.find_element(By.ID, "secret").text) < 16 or not driver.find_elements(By.ID, "qr"):
        fail("the new secret's page lacks the secret or its QR code")
    shot(driver, "07-new-secret")
    driver.get(URL + "/secrets?q=" + sref)
    until("the new secret is not listed",
          lambda: driver.find_elements(By.CSS_SELECTOR, "#secrets tr[data-ref]"))
    ok("made the secret %s in the browser: shown once, with its QR code" % sref)

    # 4. a subject that is markup
    ref3, sec3 = secret()
    p = openssl_ir(".well-known/cmp", ref3, sec3, "/CN=<script>alert(1)<\\/script>",
                   os.path.join(WORK, "xss.pem"), os.path.join(WORK, "xss.log"))
    if p.wait(120) != 0:
        fail("openssl cmp ir (markup subject) failed")
    driver.get(URL + "/certs?q=alert")
    until("the markup certificate is not listed",
          lambda: driver.find_elements(By.CSS_SELECTOR, "#certs td.subject"))
    cell = driver.find_element(By.CSS_SELECTOR, "#certs td.subject").text
    if "<script>alert(1)" not in cell.replace("\\", ""):
        fail("the subject does not show as text: " + cell)
    if driver.find_elements(By.CSS_SELECTOR, "#certs script") or not no_alert(driver):
        fail("the subject ran as script")
    shot(driver, "08-markup-subject")
    ok("the subject %r shows as text; no script ran" % cell)

    # 4b. the dashboard counts what happened (its counts are kept 10 s: it is
    # read again until they show; the hours come from transactions_hourly)
    def counted():
        driver.get(URL + "/")
        rows = driver.find_elements(By.CSS_SELECTOR, "#profiles td.num")
        valid = driver.find_element(By.CSS_SELECTOR, "#valid b").text
        bars = driver.find_elements(By.CSS_SELECTOR, "svg rect")
        if rows and int(rows[0].text) > 0 and int(valid) > 0 and len(bars) > 1:
            return (rows[0].text, valid)
        time.sleep(1)
        return None
    n_tx, n_valid = until("the dashboard does not count the enrolments", counted, 90)
    shot(driver, "12-dashboard-later")
    ok("the dashboard counts them: the first profile's transactions %s, valid "
       "certificates %s, bars in the chart" % (n_tx, n_valid))

    # 5. log out
    driver.find_element(By.ID, "logout").click()
    until("logout did not reach the login page",
          lambda: driver.find_elements(By.ID, "message") and
          "logged out" in driver.find_element(By.ID, "message").text)
    driver.get(URL + "/approvals")
    until("a page after logout did not go to login", lambda: driver.current_url.endswith("/login"))
    shot(driver, "09-logged-out")
    ok("logged out; the approvals page asks for a login again")

    # 6. a viewer: no approve button, and the server refuses the form anyway
    ref4, sec4 = secret("--profile", "manual")
    cmp4 = openssl_ir(".well-known/cmp/p/manual", ref4, sec4, "/CN=viewer test/O=console",
                      os.path.join(WORK, "viewer.pem"), os.path.join(WORK, "viewer.log"))
    login(driver, "bob", open(os.path.join(WORK, "bob.pw")).read().strip())
    r = until("the viewer does not see the request",
              lambda: approvals_row(driver, "CN=viewer test"))
    tid = r.get_attribute("data-txid")
    if r.find_elements(By.CSS_SELECTOR, "button[name=approve]"):
        fail("the viewer's page has an approve button")
    shot(driver, "10-viewer-approvals")
    csrf = driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    # The form a page without the button would need, posted from the page.
    driver.execute_script(
        "var f=document.createElement('form');f.method='post';f.action=arguments[0];"
        "var i=document.createElement('input');i.name='csrf';i.value=arguments[1];"
        "f.appendChild(i);document.body.appendChild(f);f.submit();",
        "/approvals/%s/approve" % tid, csrf)
    until("the server did not refuse the viewer's approval",
          lambda: "your role may not do this" in driver.page_source)
    shot(driver, "11-viewer-refused")
    cmp4.kill()
    cmp4.wait()
    print("TXID_VIEWER=" + tid, flush=True)
    ok("bob (viewer): no approve button; the approval posted anyway was refused by the server")


main()

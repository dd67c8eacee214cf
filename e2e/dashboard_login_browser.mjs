// The dashboard's login, run by TestDashboardLoginInBrowser (auth_test.go)
// against a real `sagequeue serve` with an auth file and TLS: headless
// Chromium, driven by playwright-core, is sent to the login page, is
// refused a wrong secret, logs in, sees the jobs, logs out, and is refused
// afterwards. Its input is the JSON in DASHBOARD_LOGIN_TEST; it writes
// screenshots to its "out" folder and exits non-zero with a message (and
// failure.png) when a check fails.
import { open, assert } from './browser.mjs';

const cfg = JSON.parse(process.env.DASHBOARD_LOGIN_TEST);
const { context, page, log, shot, run } = await open(cfg, {
  viewport: { width: 1280, height: 800 },
  // The server's certificate is self-signed for this test.
  ignoreHTTPSErrors: true,
  // Refused requests are expected here; script errors are not.
  ignoreConsole: (text) => text.startsWith('Failed to load resource'),
});

const path = () => new URL(page.url()).pathname;

// apiStatus calls the API with the browser's cookies (the login page's
// Content-Security-Policy lets no script of its own do it).
async function apiStatus() {
  return (await page.request.post(new URL('v1/getdashboard', cfg.url).href, { data: '{}' })).status();
}

await run(async () => {
  log(`open ${cfg.url}`);
  await page.goto(cfg.url);
  assert(path() === '/login', `without a session the dashboard should send to /login, not ${page.url()}`);
  await shot('1-login.png');

  await page.fill('input[name="accessKeyId"]', cfg.key);
  await page.fill('input[name="secret"]', 'not-the-secret-0123456789');
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  const refused = await page.locator('.error').innerText();
  assert(/Unknown access key id, or wrong secret/.test(refused), `a wrong secret should be refused, the page says: ${refused}`);
  assert(await page.inputValue('input[name="accessKeyId"]') === cfg.key, 'the access key id should stay filled in');
  await shot('2-wrong-secret.png');

  await page.fill('input[name="secret"]', cfg.secret);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  assert(path() === '/', `after the login the dashboard should open, not ${page.url()}`);
  await page.waitForSelector(`a.count[data-queue="research"][data-status="SUCCEEDED"][data-count="${cfg.succeeded}"]`, { timeout: 15000 });
  const who = await page.locator('#who-name').innerText();
  assert(who === cfg.user, `the header should say who is logged in (${cfg.user}), it says ${who}`);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === '__Host-sagequeue-session');
  assert(session, `no session cookie among ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert(session.httpOnly && session.secure && session.sameSite === 'Strict' && session.expires > Date.now() / 1000,
    `the session cookie should be HttpOnly, Secure, SameSite=Strict and expire: ${JSON.stringify(session)}`);
  log('logged in; the overview shows the jobs');
  await shot('3-overview.png');

  await page.click(`a.count[data-queue="research"][data-status="SUCCEEDED"]`);
  await page.waitForSelector(`text=${cfg.jobName}`, { timeout: 15000 });
  await shot('4-jobs.png');

  await Promise.all([page.waitForURL('**/login'), page.click('#logout')]);
  log('logged out');
  await shot('5-logged-out.png');
  assert(await apiStatus() === 403, 'after logout the API should refuse the page');
  await page.goto(cfg.url);
  assert(path() === '/login', `after logout the dashboard should send to /login, not ${page.url()}`);
  assert(!(await context.cookies()).some((c) => c.name === '__Host-sagequeue-session' && c.value), 'the session cookie should be gone');

});

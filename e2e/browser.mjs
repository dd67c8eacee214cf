// What the dashboard's browser tests share: headless Debian Chromium driven
// by playwright-core with the flags this sandboxed, offline machine needs,
// a record of the page's errors, screenshots, polling, and one way to end
// (all checks passed, or a message, failure.png and exit code 1).
import { chromium } from 'playwright-core';
import { join } from 'node:path';

// open starts Chromium for cfg (chromium, userDataDir, out) and returns the
// page and the helpers bound to it. ignoreConsole(text) tells console
// errors that are expected (a refused request) from script errors.
export async function open(cfg, { viewport = { width: 1280, height: 900 }, ignoreHTTPSErrors = false, ignoreConsole = () => false } = {}) {
  const started = Date.now();
  const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
  const context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    ignoreHTTPSErrors,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport,
    timezoneId: 'UTC',
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !ignoreConsole(m.text())) problems.push(`console error: ${m.text()}`);
  });

  async function shot(name) {
    await page.screenshot({ path: join(cfg.out, name), fullPage: true });
    log(`screenshot ${name}`);
  }

  // waitFor polls check until it returns a truthy value without an error
  // member; a value with one is what the check saw, shown on timeout.
  async function waitFor(what, check, timeout = 15000) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      try {
        last = await check();
        if (last && !last.error) return last;
      } catch (err) {
        last = err.message;
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
      await page.waitForTimeout(150);
    }
  }

  // run runs the checks, then ends the process as the Go test expects.
  async function run(checks) {
    try {
      await checks();
      assert(problems.length === 0, `the page reported problems:\n${problems.join('\n')}`);
      log('all checks passed');
      await context.close();
    } catch (err) {
      console.error(`FAILED: ${err.message}`);
      if (problems.length) console.error(problems.join('\n'));
      try { await shot('failure.png'); } catch (e) { /* the browser is gone */ }
      await context.close();
      process.exit(1);
    }
  }

  return { context, page, problems, log, shot, waitFor, run };
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// The training plan timeline of the dashboard, run by
// TestDashboardPlanTimeline (dashboard_test.go): headless Chromium opens the
// overview of a `sagequeue serve` with a local training plan and checks
// the plan's card and timeline. Input and output as dashboard_browser.mjs.
import { chromium } from 'playwright-core';
import { join } from 'node:path';

const cfg = JSON.parse(process.env.DASHBOARD_TEST);
const context = await chromium.launchPersistentContext(cfg.userDataDir, {
  executablePath: cfg.chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
  timezoneId: 'UTC',
});
const page = context.pages()[0] || await context.newPage();
const problems = [];
page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });

async function waitFor(what, check, timeout = 15000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await page.waitForTimeout(150);
  }
}

try {
  await page.goto(cfg.url);
  const card = '#plans .plan[data-plan="demo"]';
  await waitFor('the plan card', async () => (await page.locator(card).count()) === 1);
  await waitFor('the plan Active with one instance of two in use', async () => {
    const t = await page.locator(card).innerText();
    return /Active/.test(t) && /1 \/ 2 instances in use now/.test(t) && /ml\.p5\.48xlarge/.test(t) || { t };
  });
  // The first window; the second opens beyond the timeline's half hour ahead.
  await waitFor('the window on the timeline', async () => (await page.locator(`${card} svg.timeline rect.pwin`).count()) === 1);
  await waitFor('the use on the timeline', async () => (await page.locator(`${card} svg.timeline path.peak`).count()) === 1);
  await page.screenshot({ path: join(cfg.out, 'plans.png'), fullPage: true });
  if (problems.length) throw new Error(problems.join('\n'));
  console.log('the plan timeline is right');
} catch (err) {
  await page.screenshot({ path: join(cfg.out, 'plans-failure.png'), fullPage: true }).catch(() => {});
  console.error(err.message);
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await context.close();
}

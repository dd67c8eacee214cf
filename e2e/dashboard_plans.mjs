// The training plan timeline of the dashboard, run by
// TestDashboardPlanTimeline (dashboard_test.go): headless Chromium opens the
// overview of a `sagequeue serve` with a local training plan and checks
// the plan's card and timeline. Input and output as dashboard_browser.mjs.
import { open } from './browser.mjs';

const cfg = JSON.parse(process.env.DASHBOARD_TEST);
const { page, shot, waitFor, run } = await open(cfg);

await run(async () => {
  await page.goto(cfg.url);
  const card = '#plans .plan[data-plan="demo"]';
  await waitFor('the plan card', async () => (await page.locator(card).count()) === 1);
  await waitFor('the plan Active with one instance of two in use', async () => {
    const t = await page.locator(card).innerText();
    return /Active/.test(t) && /1 \/ 2 instances in use now/.test(t) && /ml\.p5\.48xlarge/.test(t) || { error: true, t };
  });
  // The first window; the second opens beyond the timeline's half hour ahead.
  await waitFor('the window on the timeline', async () => (await page.locator(`${card} svg.timeline rect.pwin`).count()) === 1);
  await waitFor('the use on the timeline', async () => (await page.locator(`${card} svg.timeline path.peak`).count()) === 1);
  await shot('plans.png');
});

// The dashboard's browser test, run by TestDashboardInBrowser
// (dashboard_test.go) against a real `sagequeue serve` that it filled with
// jobs: headless Chromium, driven by playwright-core, clicks through the
// dashboard as a person would and checks what it shows. Its input is the
// JSON in DASHBOARD_TEST; it writes screenshots to its "out" folder and
// exits non-zero with a message (and failure.png) when a check fails.
import { writeFileSync } from 'node:fs';
import { open, assert } from './browser.mjs';

const cfg = JSON.parse(process.env.DASHBOARD_TEST);
const { page, log, shot, waitFor, run } = await open(cfg);

const counts = () => page.$$eval('a.count', (els) => Object.fromEntries(els.map((e) => [`${e.dataset.queue}/${e.dataset.status}`, e.textContent])));

async function expectCounts(want, what, timeout) {
  return waitFor(what, async () => {
    const got = await counts();
    const wrong = Object.entries(want).filter(([k, v]) => got[k] !== String(v));
    return wrong.length ? { error: true, wrong: wrong.map(([k, v]) => `${k}=${got[k]} (want ${v})`) } : got;
  }, timeout);
}

const text = (sel) => page.locator(sel).first().innerText();

await run(async () => {
  log(`open ${cfg.url}`);
  await page.goto(cfg.url);

  // Overview: each queue's counts per state, each environment's use.
  await expectCounts({
    'default/SUBMITTED': 0, 'default/RUNNABLE': 1, 'default/SCHEDULED': 0, 'default/STARTING': 0,
    'default/RUNNING': 1, 'default/SUCCEEDED': 1, 'default/FAILED': 1,
    'shared/SUBMITTED': 0, 'shared/RUNNABLE': 6, 'shared/RUNNING': 2, 'shared/SUCCEEDED': 0, 'shared/FAILED': 0,
  }, 'the overview counts');
  await waitFor('the environment at 3 of 3 instances', async () => /3 \/ 3 instances in use/.test(await text('.env[data-env="gpu"]')));
  await waitFor('the utilization chart', async () => (await page.locator('.env[data-env="gpu"] svg.chart path.peak').count()) === 1);
  log('overview counts and environment use are right');
  await shot('1-overview.png');

  // A queue's job list, from the overview's FAILED count.
  await page.click('a.count[data-queue="default"][data-status="FAILED"]');
  await waitFor('the FAILED jobs of default', async () => (await page.locator('#jobs tbody tr[data-job]').count()) === 1);
  assert((await page.inputValue('#f-status')) === 'FAILED', 'the list is not filtered by FAILED');
  assert(/broken/.test(await text('#jobs tbody')), 'the failed job is not listed');
  await shot('2-jobs-failed.png');

  // The failed job: status, reason, both attempts with their reasons, payload.
  await page.click('#jobs tbody a:text("broken")');
  await waitFor('the failed job page', async () => (await text('#job-status')) === 'FAILED');
  await waitFor('two attempts', async () => (await page.locator('#attempts tbody tr[data-attempt]').count()) === 2);
  const reasons = await page.$$eval('#attempts .reason-cell', (els) => els.map((e) => e.textContent));
  assert(reasons.length === 2 && reasons.every((r) => r.startsWith('Received status from SageMaker: AlgorithmError')),
    `attempt reasons: ${JSON.stringify(reasons)}`);
  assert((await text('#job-reason')).startsWith('Received status from SageMaker: AlgorithmError'), 'no failure reason shown');
  const payload = await text('#payload');
  assert(payload.includes('"ContainerEntrypoint": [') && payload.includes('out of memory'), `payload not shown pretty: ${payload.slice(0, 200)}`);
  await waitFor('the failed attempt\'s log', async () => /error: out of memory/.test(await text('#log')));
  log('failed job: status, attempts, reasons, payload and log are right');
  await shot('3-job-failed.png');

  // The running job, through the overview and the RUNNING list: its log
  // grows while we watch.
  await page.click('nav a[data-nav="overview"]');
  await page.click('a.count[data-queue="default"][data-status="RUNNING"]');
  await waitFor('the running job in the list', async () => /trainer/.test(await text('#jobs tbody')));
  await page.click('#jobs tbody a:text("trainer")');
  await waitFor('the running job page', async () => (await text('#job-status')) === 'RUNNING');
  const lastStep = async () => Math.max(-1, ...[...(await text('#log')).matchAll(/step (\d+) loss/g)].map((m) => Number(m[1])));
  const first = (await waitFor('log lines', async () => ((await lastStep()) >= 0 ? { step: await lastStep() } : null))).step;
  await waitFor(`log lines after step ${first}`, async () => (await lastStep()) >= first + 5);
  assert(/following attempt 1/.test(await text('.log-state')), 'the log is not followed');
  assert((await page.locator('#timeline li.done').count()) === 3, 'the timeline does not show submitted, scheduled and started');
  log(`running job: log went from step ${first} to ${await lastStep()} while watched`);
  await shot('4-job-running.png');

  // The fair-share queue: its front and its shares.
  await page.click('nav a[data-nav="overview"]');
  await page.click('#queues tr[data-queue="shared"] td:first-child a');
  await waitFor('the front of the shared queue', async () => (await page.locator('#front tbody tr').count()) === 6 && /sweep-r2/.test(await text('#front')));
  await waitFor('the shares', async () => {
    const rows = await page.$$eval('#shares tbody tr[data-share]', (els) => els.map((e) => [...e.children].map((c) => c.textContent)));
    const byShare = Object.fromEntries(rows.map((r) => [r[0], r]));
    return byShare.research && byShare.prod && byShare.research[2] === '1' && byShare.prod[2] === '1' &&
      byShare.prod[1] === '0.25' && byShare.research[4] === '3' && byShare.prod[4] === '3';
  });
  log('fair-share queue: front and shares are right');
  await shot('5-queue-shared.png');

  // Watch the queues drain: release the running jobs and keep the overview open.
  await page.click('nav a[data-nav="overview"]');
  writeFileSync(cfg.release, '');
  log('released the running jobs; watching the queues drain');
  try {
    await waitFor('the queues half drained', async () => {
      const c = await counts();
      return Number(c['shared/SUCCEEDED']) >= 2 && Number(c['shared/RUNNABLE']) > 0;
    }, 20000);
    await shot('6-overview-draining.png');
  } catch (err) {
    log(`no screenshot of the queues half drained: ${err.message}`);
  }
  await expectCounts({
    'default/RUNNABLE': 0, 'default/RUNNING': 0, 'default/SUCCEEDED': 3, 'default/FAILED': 1,
    'shared/RUNNABLE': 0, 'shared/RUNNING': 0, 'shared/SUCCEEDED': 8,
  }, 'the drained queues', 30000);
  await waitFor('the environment idle', async () => /0 \/ 3 instances in use/.test(await text('.env[data-env="gpu"]')));
  log('drained');
  await shot('7-overview-drained.png');

});

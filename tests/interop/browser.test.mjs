// A real browser against the demo broker's greeting page: headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) loads the page, connects over STOMP/WebSocket
// with @stomp/stompjs, sends a name containing markup and sees the escaped greeting appear,
// on its own page and on a second one.
//
// Run by .ci/run with the demo broker up:  (cd tests/interop && node --test browser.test.mjs)
// Page: STOMP_BROKER_HTTP (default http://127.0.0.1:15674/; .ci/interop.sh runs it a second
// time against a demo broker in relay mode, see STOMP_RELAY_TO there); browser: CHROMIUM_PATH.
// playwright-core gives each launch a new, empty profile.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const PAGE_URL = process.env.STOMP_BROKER_HTTP ?? 'http://127.0.0.1:15674/';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

async function openConnected() {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(PAGE_URL);
  await page.click('#connect');
  await page.waitForFunction(() => !document.getElementById('disconnect').disabled, null, {
    timeout: 10_000,
  });
  return { page, errors };
}

const greetingCells = (page) =>
  page.$$eval('#greetings td', (cells) =>
    cells.map((c) => ({ text: c.textContent, markup: c.querySelector('*') !== null })),
  );

test('a greeting with markup in the name appears escaped on every connected page', async () => {
  const first = await openConnected();
  const second = await openConnected();
  await first.page.fill('#name', '<b>Ada</b> & co');
  await first.page.click('#send');
  const expected = 'Hello, <b>Ada</b> & co!';
  for (const { page, errors } of [first, second]) {
    await page.waitForFunction(
      (text) => [...document.querySelectorAll('#greetings td')].some((c) => c.textContent === text),
      expected,
      { timeout: 10_000 },
    );
    const cells = await greetingCells(page);
    assert.deepEqual(cells, [{ text: expected, markup: false }], 'the name is shown as text, not markup');
    assert.deepEqual(errors, []);
  }
  await first.page.screenshot({ path: join(tmpdir(), 'stomp-greeting.png') });
  await first.page.click('#disconnect');
  await first.page.waitForFunction(() => document.getElementById('connect').disabled === false);
  await first.page.close();
  await second.page.close();
});

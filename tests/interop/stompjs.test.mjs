// Interop: @stomp/stompjs as a client of a STOMP broker, over WebSocket (with `ws`) and over
// TCP (with @stomp/tcp-wrapper), in STOMP 1.0, 1.1 and 1.2.
//
// Run by .ci/run against the demo broker:  (cd tests/interop && node --test)
// Broker: STOMP_BROKER_WS (default ws://127.0.0.1:15674/ws), STOMP_BROKER_TCP
// (127.0.0.1:61613), STOMP_LOGIN / STOMP_PASSCODE (guest), STOMP_VHOST (/).
// A broker that cannot be reached fails every test: nothing is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Client, Versions } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import WebSocket from 'ws';

const WS_URL = process.env.STOMP_BROKER_WS ?? 'ws://127.0.0.1:15674/ws';
const [TCP_HOST, TCP_PORT] = (process.env.STOMP_BROKER_TCP ?? '127.0.0.1:61613').split(':');
const LOGIN = process.env.STOMP_LOGIN ?? 'guest';
const PASSCODE = process.env.STOMP_PASSCODE ?? 'guest';
const VHOST = process.env.STOMP_VHOST ?? '/';
const WAIT_MS = 10_000;
const VERSIONS = ['1.0', '1.1', '1.2'];
const TRANSPORTS = ['ws', 'tcp'];

const unique = (prefix) => `${prefix}${randomUUID().slice(0, 12)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Connects a stompjs client; resolves with { client, frame, messages, nextMessage } once CONNECTED. */
async function open(transport, version, { heartbeat = 0 } = {}) {
  const errors = [];
  const client = new Client({
    webSocketFactory: () =>
      transport === 'ws'
        ? new WebSocket(WS_URL, [`v${version.replace('.', '')}.stomp`])
        : new TCPWrapper(TCP_HOST, Number(TCP_PORT)),
    stompVersions: new Versions([version]),
    connectHeaders: { login: LOGIN, passcode: PASSCODE, host: VHOST },
    heartbeatIncoming: heartbeat,
    heartbeatOutgoing: heartbeat,
    reconnectDelay: 0,
    onStompError: (frame) => errors.push(frame),
    onWebSocketError: (e) => errors.push(e),
  });
  const connected = new Promise((resolve, reject) => {
    client.onConnect = resolve;
    client.onWebSocketClose = () => reject(new Error(`connection closed (${transport} ${version})`));
  });
  client.activate();
  const frame = await within(connected, `CONNECTED over ${transport} in ${version}`);
  client.onWebSocketClose = () => {};
  return { client, frame, errors };
}

/** Subscribes and collects messages; `next()` resolves with the next one. */
async function subscribe(client, destination, headers = {}) {
  const queue = [];
  const waiters = [];
  const receipt = unique('sub-');
  const confirmed = new Promise((resolve) => client.watchForReceipt(receipt, resolve));
  const subscription = client.subscribe(
    destination,
    (message) => {
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else queue.push(message);
    },
    { ...headers, receipt },
  );
  await within(confirmed, `SUBSCRIBE receipt for ${destination}`);
  return {
    subscription,
    received: queue,
    next: () =>
      within(
        queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)),
        `a MESSAGE on ${destination}`,
      ),
  };
}

async function publish(client, params) {
  const receipt = unique('send-');
  const confirmed = new Promise((resolve) => client.watchForReceipt(receipt, resolve));
  client.publish({ ...params, headers: { ...(params.headers ?? {}), receipt } });
  await within(confirmed, `SEND receipt for ${params.destination}`);
}

async function close(client) {
  await within(client.deactivate(), 'DISCONNECT');
}

for (const transport of TRANSPORTS) {
  for (const version of VERSIONS) {
    const name = `${transport} ${version}`;

    test(`${name}: connects and negotiates the version`, async () => {
      const { client, frame } = await open(transport, version);
      assert.equal(frame.headers.version ?? '1.0', version);
      assert.equal(client.connectedVersion, version);
      await close(client);
    });

    test(`${name}: topic fans out to every subscriber`, async () => {
      const topic = unique('/topic/js-fan-');
      const a = await open(transport, version);
      const b = await open(transport, version);
      const subs = [await subscribe(a.client, topic), await subscribe(b.client, topic)];
      await publish(a.client, { destination: topic, body: 'to all' });
      for (const sub of subs) assert.equal((await sub.next()).body, 'to all');
      await close(a.client);
      await close(b.client);
    });

    test(`${name}: queue delivers each message to one consumer`, async () => {
      const queue = unique('/queue/js-one-');
      const a = await open(transport, version);
      const b = await open(transport, version);
      const subs = [await subscribe(a.client, queue), await subscribe(b.client, queue)];
      const bodies = ['q0', 'q1', 'q2', 'q3'];
      for (const body of bodies) await publish(a.client, { destination: queue, body });
      const deadline = Date.now() + WAIT_MS;
      while (Date.now() < deadline && subs[0].received.length + subs[1].received.length < 4) {
        await sleep(20);
      }
      await sleep(200);
      const got = [...subs[0].received, ...subs[1].received].map((m) => m.body).sort();
      assert.deepEqual(got, bodies);
      await close(a.client);
      await close(b.client);
    });

    test(`${name}: receipts and client acknowledgment`, async () => {
      const queue = unique('/queue/js-ack-');
      const { client } = await open(transport, version);
      const sub = await subscribe(client, queue, { ack: 'client' });
      await publish(client, { destination: queue, body: 'ack me' });
      const message = await sub.next();
      const receipt = unique('ack-');
      const acked = new Promise((resolve) => client.watchForReceipt(receipt, resolve));
      message.ack({ receipt });
      await within(acked, 'ACK receipt');
      await close(client);
    });

    if (version !== '1.0') {
      test(`${name}: NACK redelivers, client-individual ACK settles`, async () => {
        const queue = unique('/queue/js-nack-');
        const { client } = await open(transport, version);
        const sub = await subscribe(client, queue, { ack: 'client-individual' });
        await publish(client, { destination: queue, body: 'again' });
        (await sub.next()).nack();
        const again = await sub.next();
        assert.equal(again.body, 'again');
        const receipt = unique('ack-');
        const acked = new Promise((resolve) => client.watchForReceipt(receipt, resolve));
        again.ack({ receipt });
        await within(acked, 'ACK receipt');
        await sleep(200);
        assert.equal(sub.received.length, 0, 'an acknowledged message came back');
        await close(client);
      });

      test(`${name}: heart-beats keep an idle connection alive`, async () => {
        const { client, errors } = await open(transport, version, { heartbeat: 500 });
        await sleep(2500);
        assert.ok(client.connected, 'connection dropped while idle');
        assert.deepEqual(errors, []);
        const queue = unique('/queue/js-hb-');
        const sub = await subscribe(client, queue);
        await publish(client, { destination: queue, body: 'alive' });
        assert.equal((await sub.next()).body, 'alive');
        await close(client);
      });

    }

    // stompjs escapes header values only in 1.2 (it sends them raw in 1.1), so the escape
    // test is 1.2-only here; stomp.py and our own client cover 1.1 escaping.
    if (version === '1.2') {
      test(`${name}: escaped header values round-trip`, async () => {
        const queue = unique('/queue/js-esc-');
        const { client } = await open(transport, version);
        const sub = await subscribe(client, queue);
        const odd = 'a:b\nc\\d';
        await publish(client, { destination: queue, body: 'x', headers: { 'x-odd': odd } });
        assert.equal((await sub.next()).headers['x-odd'], odd);
        await close(client);
      });
    }

    test(`${name}: transaction commit delivers, abort discards`, async () => {
      const queue = unique('/queue/js-tx-');
      const { client } = await open(transport, version);
      const sub = await subscribe(client, queue);
      const aborted = client.begin();
      client.publish({ destination: queue, body: 'discarded', headers: { transaction: aborted.id } });
      aborted.abort();
      const committed = client.begin();
      client.publish({ destination: queue, body: 'kept', headers: { transaction: committed.id } });
      await sleep(200);
      assert.equal(sub.received.length, 0, 'a transactional SEND took effect before COMMIT');
      committed.commit();
      assert.equal((await sub.next()).body, 'kept');
      await sleep(200);
      assert.equal(sub.received.length, 0, 'the aborted SEND arrived');
      await close(client);
    });
  }
}

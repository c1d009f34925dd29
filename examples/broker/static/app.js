// The greeting page: STOMP over WebSocket with @stomp/stompjs.
// Connect subscribes to /topic/greetings; Send publishes {"name": ...} to /app/hello, which the
// broker answers with {"content": "Hello, <name>!"} on /topic/greetings.
'use strict';

const byId = (id) => document.getElementById(id);

function showStatus(text) {
  byId('status').textContent = text;
}

function setConnected(connected) {
  byId('connect').disabled = connected;
  byId('disconnect').disabled = !connected;
  byId('send').disabled = !connected;
  byId('conversation').hidden = !connected;
  if (!connected) {
    byId('greetings').replaceChildren();
  }
}

// The greeting handler HTML-escapes the name (as Spring's HtmlUtils.htmlEscape does), so
// `<b>` arrives as `&lt;b&gt;`. Undo exactly those five entities and insert the result as
// text: the name shows literally, and nothing on the topic is ever parsed as markup.
const ENTITIES = { '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&amp;': '&' };
function unescapeHtml(text) {
  return text.replace(/&(lt|gt|quot|#39|amp);/g, (entity) => ENTITIES[entity]);
}

// One table row per greeting.
function showGreeting(content) {
  const cell = document.createElement('td');
  cell.textContent = unescapeHtml(content);
  const row = document.createElement('tr');
  row.appendChild(cell);
  byId('greetings').appendChild(row);
}

function start() {
  setConnected(false);
  if (typeof StompJs === 'undefined') {
    byId('missing').hidden = false;
    byId('connect').disabled = true;
    showStatus('STOMP client library missing.');
    return;
  }

  const stompClient = new StompJs.Client({
    brokerURL: 'ws://' + location.host + '/ws',
  });

  stompClient.onConnect = (frame) => {
    setConnected(true);
    showStatus('Connected: STOMP ' + (frame.headers['version'] || '?') + ', ' +
      (frame.headers['server'] || 'unknown server') + '.');
    stompClient.subscribe('/topic/greetings', (greeting) => {
      showGreeting(JSON.parse(greeting.body).content);
    });
  };

  stompClient.onWebSocketError = (event) => {
    console.error('WebSocket error', event);
    showStatus('WebSocket error: is the broker running?');
  };

  stompClient.onStompError = (frame) => {
    console.error('Broker reported error: ' + frame.headers['message'], frame.body);
    showStatus('Broker error: ' + frame.headers['message']);
  };

  stompClient.onWebSocketClose = () => {
    setConnected(false);
    // An active client reconnects by itself (stompjs' reconnectDelay).
    showStatus(stompClient.active ? 'Connection lost, reconnecting...' : 'Disconnected.');
  };

  byId('connect').addEventListener('click', () => {
    showStatus('Connecting...');
    stompClient.activate();
  });

  byId('disconnect').addEventListener('click', async () => {
    await stompClient.deactivate();
    setConnected(false);
    showStatus('Disconnected.');
  });

  byId('name-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (!stompClient.connected) {
      return;
    }
    stompClient.publish({
      destination: '/app/hello',
      body: JSON.stringify({ name: byId('name').value }),
    });
  });

  byId('connection-form').addEventListener('submit', (event) => event.preventDefault());
}

start();

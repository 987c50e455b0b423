// The chat page: one WebSocket to /ws on the page's own host, JSON messages both ways.
// Everything a user typed is shown with textContent, never innerHTML, so it stays text.
"use strict";

const $ = (id) => document.getElementById(id);
let socket = null; // open WebSocket, or null
let joined = false;

function setStatus(text) {
  $("status").textContent = text;
}

function addLine(className, ...parts) {
  const list = $("messages");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  const item = document.createElement("li");
  item.className = className;
  item.append(...parts); // strings become text nodes
  list.append(item);
  if (atBottom) item.scrollIntoView({ block: "end" });
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

function showMessage({ name, text, time }) {
  const when = new Date(time);
  const clock = element("time", "", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  clock.dateTime = when.toISOString();
  addLine("message", clock, element("span", "name", name), element("span", "text", text));
}

function showUsers({ users, count }) {
  $("count").textContent = String(count);
  $("users").replaceChildren(...users.map((name) => element("li", "", name)));
}

const handlers = {
  welcome({ name }) {
    joined = true;
    $("join-form").hidden = true;
    $("room").hidden = false;
    setStatus(`connected as ${name}`);
    $("text").focus();
  },
  join: ({ name }) => addLine("notice", `${name} joined`),
  leave: ({ name }) => addLine("notice", `${name} left`),
  users: showUsers,
  message: showMessage,
  error: ({ error }) => setStatus(`error: ${error}`),
};

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws`);
  socket.addEventListener("open", () => sendJson({ type: "join", name: $("name").value }));
  socket.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    const handler = handlers[data.type];
    if (handler) handler(data);
  });
  socket.addEventListener("close", (event) => {
    socket = null;
    joined = false;
    $("join-form").hidden = false;
    $("send-form").querySelector("button").disabled = true;
    setStatus(`disconnected (${event.code}${event.reason ? ": " + event.reason : ""}); join again`);
  });
}

function sendJson(data) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(data));
}

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("send-form").querySelector("button").disabled = false;
  if (socket) {
    sendJson({ type: "join", name: $("name").value }); // a retry after an error
  } else {
    setStatus("connecting ...");
    connect();
  }
});

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!joined) return;
  const input = $("text");
  if (!input.value.trim()) return;
  sendJson({ type: "message", text: input.value });
  input.value = "";
  input.focus();
});

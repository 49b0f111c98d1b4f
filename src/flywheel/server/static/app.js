// The feedback search page. Plain script, no build step.
// Every string from the server (titles, snippets, the query) goes into the page as text nodes
// (textContent / append), never as HTML, so a document cannot inject markup.
"use strict";

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const SESSION_KEY = "flywheel.session";

  const state = {
    session: null,
    qid: null,        // the current query; the next search in the session reformulates it
    query: "",
    pending: null,    // the result opened last: {chunk_id, qid, hiddenAt}
    sides: null,      // compare mode: the two sides GET /compare returned
    info: null,
  };

  // --- small helpers ---------------------------------------------------------------------
  function newId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function startSession() {
    state.session = newId();
    state.qid = null;
    sessionStorage.setItem(SESSION_KEY, state.session);
  }

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    node.append(...children); // strings become text nodes
    return node;
  }

  function status(text, isError = false) {
    const node = $("#status");
    node.textContent = text;
    node.classList.toggle("error", isError);
  }

  class HttpError extends Error {}

  async function request(path, options = {}, retries = 2) {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await fetch(path, { credentials: "same-origin", ...options });
        if (response.status === 401) {
          showLogin();
          throw new HttpError("sign in first");
        }
        if (!response.ok) {
          const body = await response.json().catch(() => ({}));
          throw new HttpError(body.message || body.detail || response.statusText);
        }
        return response.status === 204 ? null : await response.json();
      } catch (error) {
        // Network failures are retried with the same event (same event_id): stored once.
        if (error instanceof HttpError || attempt >= retries) throw error;
        await new Promise((resolve) => setTimeout(resolve, 300 * 2 ** attempt));
      }
    }
  }

  const getJSON = (path) => request(path);
  const postJSON = (path, body) =>
    request(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      keepalive: true,
    });

  function event(fields, qid = state.qid) {
    return {
      event_id: newId(),
      session_id: state.session,
      qid,
      timestamp: new Date().toISOString(),
      ...fields,
    };
  }

  function logEvent(path, fields) {
    return postJSON(path, event(fields)).catch((error) => status(`Not logged: ${error.message}`, true));
  }

  // --- results -----------------------------------------------------------------------------
  function snippetNode(result) {
    // Offsets count code points (Python's), so slice an array of code points.
    const chars = Array.from(result.snippet);
    const node = el("p", { class: "snippet" });
    let at = 0;
    for (const [start, end] of result.highlights) {
      node.append(chars.slice(at, start).join(""), el("mark", {}, chars.slice(start, end).join("")));
      at = end;
    }
    node.append(chars.slice(at).join(""));
    return node;
  }

  function opened(result) {
    logEvent("/feedback/click", { chunk_id: result.chunk_id, rank: result.rank });
    state.pending = { chunk_id: result.chunk_id, qid: state.qid, hiddenAt: null };
  }

  function titleLink(result) {
    return el(
      "a",
      {
        class: "title",
        href: `/view/${encodeURIComponent(result.chunk_id)}`,
        target: "_blank",
        rel: "noopener",
        onclick: () => opened(result),
      },
      result.title,
    );
  }

  function thumbs(result) {
    const box = el("span", { class: "thumbs" });
    for (const positive of [true, false]) {
      const button = el(
        "button",
        {
          type: "button",
          class: positive ? "up" : "down",
          "aria-pressed": "false",
          "aria-label": positive ? "Relevant" : "Not relevant",
          title: positive ? "Relevant" : "Not relevant",
        },
        el("span", { class: `icon icon-${positive ? "up" : "down"}`, "aria-hidden": "true" }),
      );
      button.addEventListener("click", async () => {
        await logEvent("/feedback/document", { chunk_id: result.chunk_id, positive });
        for (const b of box.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
      });
      box.append(button);
    }
    return box;
  }

  async function moreLikeThis(result, item) {
    const holder = $(".similar", item);
    holder.replaceChildren(el("span", { class: "muted" }, "Finding similar documents…"));
    await logEvent("/feedback/more-like-this", { chunk_id: result.chunk_id });
    try {
      const found = await getJSON(`/similar/${encodeURIComponent(result.chunk_id)}?k=5`);
      const list = el("ul");
      for (const other of found.results) {
        list.append(
          el("li", {}, el("a", { href: `/view/${encodeURIComponent(other.chunk_id)}`, target: "_blank", rel: "noopener" }, other.title)),
        );
      }
      holder.replaceChildren(el("strong", {}, "More like this:"), list);
    } catch (error) {
      holder.replaceChildren(el("span", { class: "error" }, error.message));
    }
  }

  function resultItem(result, { feedback }) {
    const item = el(
      "li",
      { class: "result", dataset: { chunkId: result.chunk_id, rank: String(result.rank) } },
      el("div", { class: "head" }, el("span", { class: "rank" }, `${result.rank}`), titleLink(result)),
      snippetNode(result),
    );
    if (feedback) {
      const mlt = el("button", { type: "button", class: "mlt link" }, "More like this");
      mlt.addEventListener("click", () => moreLikeThis(result, item));
      item.append(el("div", { class: "actions" }, thumbs(result), mlt), el("div", { class: "similar" }));
    }
    return item;
  }

  function searchParams(text) {
    const params = new URLSearchParams({ q: text, session_id: state.session });
    if (state.qid) params.set("previous_qid", state.qid);
    return params;
  }

  async function search(text) {
    const compare = $("#compare").checked;
    status("Searching…");
    const previous = state.query;
    try {
      const found = await getJSON(`/${compare ? "compare" : "search"}?${searchParams(text)}`);
      const reformulated = state.qid && state.qid !== found.qid;
      state.qid = found.qid;
      state.query = found.query;
      if (compare) renderPair(found);
      else renderSingle(found);
      const count = compare ? found.sides[0].results.length : found.results.length;
      status(
        `${count} result${count === 1 ? "" : "s"} for “${found.query}”` +
          (reformulated ? ` · linked as a rewrite of “${previous}”` : ""),
      );
    } catch (error) {
      status(error.message, true);
    }
  }

  function renderSingle(found) {
    $("#pair").hidden = true;
    $("#single").hidden = false;
    $("#results").replaceChildren(...found.results.map((r) => resultItem(r, { feedback: true })));
    $("#answer-status").textContent = "";
    $("#comment").value = "";
    for (const b of document.querySelectorAll(".answer-vote")) b.setAttribute("aria-pressed", "false");
  }

  function renderPair(found) {
    $("#single").hidden = true;
    $("#pair").hidden = false;
    state.sides = found.sides;
    const ids = found.sides.map((side) => side.results.map((r) => r.chunk_id).join("\n"));
    const same = ids[0] === ids[1];
    for (const column of document.querySelectorAll("#pair .column")) {
      const side = found.sides[Number(column.dataset.side)];
      $("ol", column).replaceChildren(...side.results.map((r) => resultItem(r, { feedback: false })));
      $(".reveal", column).textContent = "";
      $(".vote", column).disabled = same;
      $(".vote", column).classList.remove("chosen");
    }
    $("#vote-status").textContent = same ? "Both retrievers returned the same list; nothing to compare." : "";
  }

  async function vote(sideIndex) {
    const [winner, loser] = [state.sides[sideIndex], state.sides[1 - sideIndex]];
    try {
      const stored = await postJSON("/feedback/compare", {
        session_id: state.session,
        qid: state.qid,
        winner: winner.event_id,
        loser: loser.event_id,
      });
      for (const column of document.querySelectorAll("#pair .column")) {
        $(".reveal", column).textContent = `(${state.sides[Number(column.dataset.side)].retriever})`;
        $(".vote", column).disabled = true;
        $(".vote", column).classList.toggle("chosen", Number(column.dataset.side) === sideIndex);
      }
      $("#vote-status").textContent =
        `Thanks: ${winner.retriever} preferred; stored as ${stored.event_ids.length} document preference` +
        (stored.event_ids.length === 1 ? "." : "s.");
    } catch (error) {
      $("#vote-status").textContent = error.message;
    }
  }

  // --- dwell: time away on an opened document (Page Visibility API + sendBeacon) -------------
  function sendDwell(pending, ms) {
    const body = event({ chunk_id: pending.chunk_id, dwell_ms: Math.max(0, Math.round(ms)) }, pending.qid);
    const blob = new Blob([JSON.stringify(body)], { type: "application/json" });
    // sendBeacon survives the page being closed; fall back to fetch if the browser refuses.
    if (!(navigator.sendBeacon && navigator.sendBeacon("/feedback/dwell", blob))) {
      postJSON("/feedback/dwell", body).catch(() => {});
    }
  }

  document.addEventListener("visibilitychange", () => {
    const pending = state.pending;
    if (!pending) return;
    if (document.visibilityState === "hidden") {
      pending.hiddenAt = performance.now();
    } else if (pending.hiddenAt !== null) {
      sendDwell(pending, performance.now() - pending.hiddenAt);
      state.pending = null;
    }
  });

  window.addEventListener("pagehide", () => {
    const pending = state.pending;
    if (pending && pending.hiddenAt !== null) {
      sendDwell(pending, performance.now() - pending.hiddenAt);
      state.pending = null;
    }
  });

  // --- login ---------------------------------------------------------------------------
  function showLogin() {
    $("#login").hidden = false;
    $("#token").focus();
  }

  async function login(submitEvent) {
    submitEvent.preventDefault();
    try {
      await postJSON("/auth/login", { token: $("#token").value });
      $("#login").hidden = true;
      $("#token").value = "";
      status("Signed in.");
      $("#q").focus();
    } catch (error) {
      status(error.message, true);
    }
  }

  // --- start -----------------------------------------------------------------------------
  async function start() {
    state.session = sessionStorage.getItem(SESSION_KEY);
    if (!state.session) startSession();
    $("#search-form").addEventListener("submit", (submitEvent) => {
      submitEvent.preventDefault();
      const text = $("#q").value.trim();
      if (text) search(text);
    });
    $("#login-form").addEventListener("submit", login);
    $("#new-session").addEventListener("click", () => {
      startSession();
      status("New session started.");
    });
    for (const button of document.querySelectorAll(".answer-vote")) {
      button.addEventListener("click", async () => {
        if (!state.qid) return;
        const positive = button.dataset.positive === "true";
        await logEvent("/feedback/answer", { positive, comment: $("#comment").value.trim() });
        for (const b of document.querySelectorAll(".answer-vote")) b.setAttribute("aria-pressed", String(b === button));
        $("#answer-status").textContent = "Thanks, noted.";
      });
    }
    for (const button of document.querySelectorAll("#pair .vote")) {
      button.addEventListener("click", () => vote(Number(button.dataset.side)));
    }
    try {
      state.info = await getJSON("/config");
      $("#compare-toggle").hidden = !state.info.compare;
      if (state.info.auth && !(await getJSON("/auth/check")).signed_in) showLogin();
    } catch (error) {
      status(error.message, true);
    }
    document.body.dataset.ready = "true";
  }

  start();
})();

// The dashboard's few lines of behaviour: TTL countdowns, copy buttons, and the forms that
// call /v1 (create, extend, reset, checkpoint, restore, fork, delete, register a template),
// showing the API's problem+json errors next to the field each pointer names. No rule is
// checked here.
"use strict";

(() => {
  // -- countdowns: the server's clock, not the browser's --------------------------------------
  const serverNow = Date.parse(document.body.dataset.now);
  const offset = Number.isNaN(serverNow) ? 0 : serverNow - Date.now();

  function duration(ms) {
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const pad = (n) => String(n).padStart(2, "0");
    if (h) return `${h}h ${pad(m)}m ${pad(sec)}s`;
    if (m) return `${m}m ${pad(sec)}s`;
    return `${sec}s`;
  }

  function tick() {
    const now = Date.now() + offset;
    for (const el of document.querySelectorAll("[data-expires]")) {
      const left = Date.parse(el.dataset.expires) - now;
      el.textContent = left > 0 ? duration(left) : "expiring…";
      el.classList.toggle("soon", left < 60_000);
    }
  }
  tick();
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);

  // -- small helpers -----------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function copyButton(text) {
    return el("button", { type: "button", class: "copy", "data-copy": text }, "copy");
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = el("textarea", { readonly: "" }, text);
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    await copy(button.dataset.copy);
    button.textContent = "copied";
    setTimeout(() => (button.textContent = "copy"), 1500);
  });

  async function api(method, url, body, contentType = "application/json") {
    const init = { method, headers: { accept: "application/json" } };
    if (body !== undefined) {
      init.body = contentType === "application/json" ? JSON.stringify(body) : body;
      init.headers["content-type"] = contentType;
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      return { ok: false, status: 0, data: { detail: `the control plane did not answer: ${error}` } };
    }
    const text = await response.text();
    let data;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      data = { detail: text };
    }
    return { ok: response.ok, status: response.status, data };
  }

  function problemText(problem) {
    const parts = [problem.detail || problem.title || "the request failed"];
    for (const e of problem.errors || []) parts.push(`${e.pointer || "/"}: ${e.detail}`);
    return parts.join("; ");
  }

  // -- problem+json pointers to fields ---------------------------------------------------------
  function within(pointer, prefix) {
    return prefix === "" || pointer === prefix || pointer.startsWith(prefix + "/");
  }

  function clearErrors(form) {
    for (const slot of form.querySelectorAll(".error")) slot.textContent = "";
    for (const field of form.querySelectorAll(".invalid")) field.classList.remove("invalid");
  }

  // Each error goes next to the visible field whose pointer is the longest prefix of its own.
  function showProblem(form, problem) {
    clearErrors(form);
    const fields = [...form.querySelectorAll("[data-pointer]")].filter((f) => !f.closest("[hidden]"));
    const general = form.querySelector(".form-error, .action-result");
    const errors = problem.errors?.length ? problem.errors : [{ pointer: "", detail: problem.detail }];
    for (const error of errors) {
      const pointer = error.pointer || "";
      let best = null;
      for (const field of fields) {
        const prefix = field.dataset.pointer;
        if (within(pointer, prefix) && (!best || prefix.length > best.dataset.pointer.length)) best = field;
      }
      const slot = best ? (best.matches(".error") ? best : best.querySelector(":scope > .error")) : general;
      if (!slot) continue;
      best?.classList.add("invalid");
      const where = best && pointer !== best.dataset.pointer ? `${pointer.slice(best.dataset.pointer.length)}: ` : "";
      slot.textContent += (slot.textContent ? "; " : "") + where + error.detail;
    }
    if (general && problem.errors?.length && !general.textContent) general.textContent = problem.detail || "";
  }

  // -- create -------------------------------------------------------------------------------------
  const createForm = document.getElementById("create-form");
  if (createForm) {
    createForm.addEventListener("change", (event) => {
      if (event.target.name !== "service") return;
      const editor = createForm.querySelector(`fieldset.editor[data-service="${CSS.escape(event.target.value)}"]`);
      if (editor) editor.hidden = !event.target.checked;
    });

    createForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { body, errors } = createBody(createForm);
      const agent = createForm.elements.agent.value.trim();
      if (!agent) errors.push({ pointer: "/path/agent_id", detail: "an agent id is needed" });
      if (errors.length) return showProblem(createForm, { detail: "fix the marked fields", errors });
      clearErrors(createForm);
      const url = `/v1/agents/${encodeURIComponent(agent)}/sandboxes/dynamic`;
      const answer = await api("POST", url, body);
      if (!answer.ok) return showProblem(createForm, answer.data);
      showCreated(answer.data);
    });
  }

  function createBody(form) {
    const errors = [];
    const services = [...form.querySelectorAll("input[name=service]:checked")].map((i) => i.value);
    const body = { required_services: services, custom_configs: {} };
    const ttl = form.elements.ttl_minutes.value.trim();
    if (ttl) body.ttl_minutes = Number(ttl);
    for (const name of services) {
      const editor = form.querySelector(`fieldset.editor[data-service="${CSS.escape(name)}"]`);
      let config = {};
      let given = false;
      for (const input of editor.querySelectorAll(".config")) {
        const raw = input.value.trim();
        if (!raw) continue;
        let value;
        const kind = input.dataset.kind;
        if (kind === "json") {
          try {
            value = JSON.parse(raw);
          } catch (error) {
            errors.push({ pointer: input.closest(".field").dataset.pointer, detail: `not valid JSON (${error.message})` });
            continue;
          }
        } else if (kind === "number" || kind === "integer") value = Number(raw);
        else if (kind === "boolean") value = raw === "true";
        else value = input.value;
        given = true;
        if (input.dataset.name) config[input.dataset.name] = value;
        else config = value;
      }
      if (given) body.custom_configs[name] = config;
    }
    return { body, errors };
  }

  function showCreated(sandbox) {
    const result = document.getElementById("create-result");
    const rows = Object.entries(sandbox.services).map(([name, service]) =>
      el("tr", { "data-service": name },
        el("td", {}, name),
        el("td", {}, el("code", { class: "url" }, service.url || ""), " ", service.url ? copyButton(service.url) : null),
        el("td", {}, el("code", { class: "token" }, service.token || ""), " ", service.token ? copyButton(service.token) : null)));
    result.replaceChildren(
      el("h2", {}, "Created ", el("a", { href: `/ui/sandboxes/${sandbox.sandbox_id}`, id: "created-link" }, sandbox.sandbox_id)),
      el("p", {}, `agent ${sandbox.agent_id}, ${sandbox.status}, expires in `, el("span", { class: "ttl", "data-expires": sandbox.expires_at })),
      el("table", { class: "services" }, el("thead", {}, el("tr", {}, el("th", {}, "Service"), el("th", {}, "URL"), el("th", {}, "Token"))), el("tbody", {}, ...rows)));
    result.hidden = false;
    tick();
  }

  // -- one sandbox: actions, diff -----------------------------------------------------------------
  const actions = document.getElementById("actions");
  if (actions) {
    const id = actions.dataset.sandbox;
    const base = `/v1/sandboxes/${encodeURIComponent(id)}`;
    const result = actions.querySelector(".action-result");
    actions.addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      const action = form.dataset.action;
      let answer;
      if (action === "extend") {
        answer = await api("POST", `${base}/extend`, { ttl_minutes: Number(form.elements.ttl_minutes.value) });
      } else if (action === "reset") {
        if (!confirm(`Forget the state and journal of sandbox ${id}?`)) return;
        answer = await api("POST", `${base}/reset`);
      } else if (action === "checkpoint") {
        const name = form.elements.name.value.trim();
        answer = await api("POST", `${base}/checkpoints`, name ? { name } : {});
      } else if (action === "fork") {
        answer = await api("POST", `${base}/fork`, forkBody(form));
        if (answer.ok) {
          location.href = `/ui/sandboxes/${encodeURIComponent(answer.data.sandbox_id)}`;
          return;
        }
      } else if (action === "delete") {
        if (!confirm(`Delete sandbox ${id}?`)) return;
        answer = await api("DELETE", base);
      }
      result.classList.toggle("failed", !answer.ok);
      if (!answer.ok) {
        result.textContent = problemText(answer.data);
        return;
      }
      result.textContent = {
        extend: `Extended: expires at ${answer.data.expires_at}`,
        reset: "Reset: state and journal forgotten",
        checkpoint: `Checkpoint ${answer.data.name} saved`,
        delete: "Deleted",
      }[action];
      htmx.trigger("#summary", "refresh");
      if (action === "checkpoint") loadCheckpoints();
    });
  }

  // Only what is given: the API's defaults (the source's agent and TTL) apply to the rest.
  function forkBody(form) {
    const body = {};
    const agent = form.elements.agent_id.value.trim();
    const ttl = form.elements.ttl_minutes.value.trim();
    if (agent) body.agent_id = agent;
    if (ttl) body.ttl_minutes = Number(ttl);
    return body;
  }

  // -- one sandbox: checkpoints (restore, diff since one), the diff --------------------------------
  const checkpoints = document.getElementById("checkpoints");
  if (checkpoints) {
    loadCheckpoints();
    checkpoints.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-restore], button[data-diff-since]");
      if (!button) return;
      if (button.dataset.diffSince) return diffSince(button.dataset.diffSince);
      const name = button.dataset.restore;
      const slot = button.closest("li").querySelector(".row-result");
      if (!confirm(`Put every service of sandbox ${actions.dataset.sandbox} back to checkpoint ${name}?`)) return;
      const answer = await api("POST", checkpoints.dataset.restoreUrl, { checkpoint: name });
      slot.classList.toggle("failed", !answer.ok);
      slot.textContent = answer.ok ? "Restored" : problemText(answer.data);
      if (!answer.ok) return;
      htmx.trigger(document.body, "state-changed"); // the journal is kept: only state and diff move
      htmx.trigger("#summary", "refresh");
    });
  }

  async function loadCheckpoints() {
    if (!checkpoints) return;
    const answer = await api("GET", checkpoints.dataset.checkpointsUrl);
    if (!answer.ok) return checkpoints.replaceChildren(el("p", { class: "muted" }, problemText(answer.data)));
    const rows = answer.data.checkpoints.map(checkpointRow);
    checkpoints.replaceChildren(rows.length ? el("ul", { class: "checkpoints" }, ...rows) : el("p", { class: "muted empty" }, "No checkpoints yet."));
  }

  function checkpointRow(checkpoint) {
    const { name } = checkpoint;
    return el("li", { "data-checkpoint": name },
      el("code", {}, name), " ", el("span", { class: "muted small" }, checkpoint.created_at), " ",
      "restoreUrl" in checkpoints.dataset ? el("button", { type: "button", "data-restore": name }, "Restore") : null, " ",
      "diffs" in checkpoints.dataset ? el("button", { type: "button", "data-diff-since": name }, "Diff since") : null, " ",
      el("span", { class: "row-result", role: "status" }));
  }

  const diff = document.getElementById("diff");
  let since = null; // the checkpoint the diff starts from; null for creation
  let diffsAsked = 0;
  async function loadDiff() {
    if (!diff) return;
    const asked = ++diffsAsked;
    const url = since === null ? diff.dataset.diffUrl : `${diff.dataset.diffUrl}?since=${encodeURIComponent(since)}`;
    const answer = await api("GET", url);
    if (asked !== diffsAsked) return; // a newer answer is on its way: never show an older one
    diff.replaceChildren(answer.ok ? renderDiff(answer.data) : el("p", { class: "muted" }, problemText(answer.data)));
  }

  function diffSince(name) {
    since = name;
    document.getElementById("diff-base").textContent = name ?? "creation";
    document.getElementById("diff-since-creation").hidden = name === null;
    loadDiff();
  }

  if (diff) {
    loadDiff();
    document.body.addEventListener("journal-changed", loadDiff);
    document.body.addEventListener("state-changed", loadDiff);
    document.getElementById("diff-since-creation").addEventListener("click", () => diffSince(null));
  }

  function renderDiff(data) {
    const s = data.summary || {};
    const parts = [el("p", {}, `${s.created ?? 0} created, ${s.changed ?? 0} changed, ${s.deleted ?? 0} deleted since ${data.since}`)];
    for (const [service, changes] of Object.entries(data.services || {})) {
      for (const kind of ["created", "changed", "deleted"]) {
        for (const item of changes[kind] || []) {
          const shown = kind === "changed" ? item.patch : kind === "created" ? item.after : item.before;
          parts.push(el("details", { class: `diff-${kind}` },
            el("summary", {}, `${kind} ${service} ${item.resource} `, el("code", {}, String(item.key))),
            el("pre", {}, JSON.stringify(shown, null, 2))));
        }
      }
    }
    return el("div", {}, ...parts);
  }

  // -- templates: register by upload; filter long tables --------------------------------------------
  const upload = document.getElementById("upload-form");
  if (upload) {
    upload.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = upload.elements.name.value.trim();
      const file = upload.elements.spec.files[0];
      const errors = [];
      if (!name) errors.push({ pointer: "/path/name", detail: "a name is needed" });
      if (!file) errors.push({ pointer: "", detail: "choose a spec file" });
      if (errors.length) return showProblem(upload, { detail: "", errors });
      clearErrors(upload);
      const type = /\.json$/i.test(file.name) ? "application/json" : "application/yaml";
      const answer = await api("PUT", `/v1/templates/${encodeURIComponent(name)}`, await file.arrayBuffer(), type);
      if (!answer.ok) return showProblem(upload, answer.data);
      location.href = `/ui/templates/${encodeURIComponent(answer.data.name)}`;
    });
  }

  for (const input of document.querySelectorAll("input.table-filter")) {
    const rows = document.querySelectorAll(`${input.dataset.filters} tbody tr`);
    input.addEventListener("input", () => {
      const wanted = input.value.trim().toLowerCase();
      for (const row of rows) row.hidden = wanted !== "" && !row.textContent.toLowerCase().includes(wanted);
    });
  }

  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    form.addEventListener("change", (event) => {
      if (event.target.tagName === "SELECT") form.requestSubmit();
    });
  }
})();

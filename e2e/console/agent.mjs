// A test agent standing in for the data plane (like tests/sdk/support.py's FakeAgent): it follows
// /agent/v1 (snapshot, then long-polled changes) and reports `applied` for endpoint services and
// endpoints in `creating` and `removed` for those in `deleting`. `delayMs` holds each report back
// so a browser can watch the status move.

const KINDS = new Set(["endpoint_service", "endpoint"]);

export class TestAgent {
  constructor(baseUrl, token, { delayMs = 0 } = {}) {
    this.base = baseUrl;
    this.token = token;
    this.delayMs = delayMs;
    this.rev = 0;
    this.done = new Set();
    this.errors = [];
    this.reported = [];
    this.stopped = false;
    this.loop = null;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async get(path) {
    const r = await fetch(this.base + path, { headers: this.headers() });
    return { status: r.status, body: r.status === 200 ? await r.json() : await r.text() };
  }

  start() {
    this.loop = this.run();
    return this;
  }

  async stop() {
    this.stopped = true;
    await this.loop;
  }

  async run() {
    let resnap = true;
    while (!this.stopped) {
      try {
        if (resnap) {
          const s = await this.get("/agent/v1/snapshot");
          if (s.status !== 200) throw new Error(`snapshot: HTTP ${s.status}`);
          this.rev = s.body.revision;
          resnap = false;
          this.handle(s.body.objects);
          continue;
        }
        const c = await this.get(`/agent/v1/changes?after=${this.rev}&timeout_ms=500`);
        if (c.status === 410) { resnap = true; continue; }
        if (c.status !== 200) throw new Error(`changes: HTTP ${c.status} ${String(c.body).slice(0, 200)}`);
        this.rev = c.body.revision;
        this.handle(c.body.changes.map((x) => x.object).filter(Boolean));
      } catch (e) {
        if (this.stopped) break;
        this.errors.push(String(e));
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  handle(objects) {
    for (const o of objects) {
      if (!KINDS.has(o.kind)) continue;
      const status = o.spec && o.spec.status;
      let outcome;
      if (status === "creating") outcome = "applied";
      else if (status === "deleting") outcome = "removed";
      else continue;
      const key = `${o.kind}/${o.id}/${o.generation}/${status}`;
      if (this.done.has(key)) continue;
      this.done.add(key);
      const result = { kind: o.kind, id: o.id, generation: o.generation, outcome };
      setTimeout(() => this.report([result]), this.delayMs);
    }
  }

  async report(results) {
    if (this.stopped) return;
    try {
      const r = await fetch(this.base + "/agent/v1/reports", {
        method: "POST",
        headers: this.headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ agent: "console-e2e", results }),
      });
      if (r.status < 200 || r.status >= 300) this.errors.push(`reports: HTTP ${r.status}`);
      else this.reported.push(...results);
    } catch (e) {
      this.errors.push(String(e));
    }
  }
}

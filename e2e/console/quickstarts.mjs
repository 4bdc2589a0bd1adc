// Browser tests of the vpcep web console: the seed guide's quick-starts, walked as a person would,
// in Debian's headless chromium driven by playwright-core. Started by run.sh, which provides:
//   CONSOLE_URL   base URL of a running `vpcep serve` (no built-in agent)
//   ACCOUNTS_DIR  alice.json, bob.json, ops.json from `vpcep admin account create NAME -o json`
//   DATA_DIR      the server's data dir (agent.token; admin commands)
//   VPCEP_BIN     the vpcep binary (lab network set-up through the CLI)
//   SHOTS_DIR     where screenshots go
// Prints one line per test and a closing `N passed, N failed`; exits non-zero on any failure.

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { TestAgent } from "./agent.mjs";

const BASE = process.env.CONSOLE_URL;
const ACCOUNTS = process.env.ACCOUNTS_DIR;
const DATA_DIR = process.env.DATA_DIR;
const BIN = process.env.VPCEP_BIN;
const SHOTS = process.env.SHOTS_DIR;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
for (const [k, v] of Object.entries({ CONSOLE_URL: BASE, ACCOUNTS_DIR: ACCOUNTS, DATA_DIR, VPCEP_BIN: BIN, SHOTS_DIR: SHOTS })) {
  if (!v) { console.error(`quickstarts: ${k} is not set (run e2e/console/run.sh)`); process.exit(2); }
}
mkdirSync(SHOTS, { recursive: true });

const acct = (n) => JSON.parse(readFileSync(path.join(ACCOUNTS, `${n}.json`), "utf8"));
const alice = acct("alice");
const bob = acct("bob");
const ops = acct("ops");

// ---- a tiny runner: tests run in order; after a failure the rest are skipped ----------------
const results = [];
let broken = false;
async function test(name, fn) {
  if (broken) { results.push({ name, status: "skipped" }); console.log(`- skip  ${name}`); return; }
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, status: "passed" });
    console.log(`✔ pass  ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    broken = true;
    results.push({ name, status: "failed", error: e });
    console.log(`✘ FAIL  ${name}\n${String(e && e.stack || e).split("\n").map((l) => "        " + l).join("\n")}`);
    if (page) await page.screenshot({ path: path.join(SHOTS, `failure-${results.length}.png`), fullPage: true }).catch(() => {});
  }
}

// ---- lab network through the CLI (the console only picks from it) --------------------------
function cli(account, args) {
  const env = {
    ...process.env,
    HOME: ACCOUNTS,
    VPCEP_ENDPOINT: BASE,
    VPCEP_ACCESS_KEY: account.access_key,
    VPCEP_SECRET_KEY: account.secret_key,
    VPCEP_PROJECT_ID: account.project_id,
    VPCEP_DATA_DIR: DATA_DIR,
  };
  const out = execFileSync(BIN, [...args, "-o", "json"], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return JSON.parse(out);
}

// ---- browser helpers ---------------------------------------------------------------------
let browser, context, page;
const shots = [];
async function shot(name, note) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push({ file: `${name}.png`, note, url: page.url().replace(BASE, "") });
}

async function newContext(viewport = { width: 1280, height: 800 }, extra = {}) {
  if (context) await context.close();
  context = await browser.newContext({ viewport, locale: "zh-CN", ...extra });
  // Cumulative layout shift after load, to check that live refreshes move nothing.
  await context.addInitScript(() => {
    window.__cls = 0;
    window.__marker = Math.random();
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
      }).observe({ type: "layout-shift", buffered: false });
    } catch (_) { /* not supported */ }
  });
  context.setDefaultTimeout(10000);
  page = await context.newPage();
  page.on("pageerror", (e) => { pageErrors.push(String(e)); });
  return page;
}
const pageErrors = [];

async function signIn(who) {
  await page.goto(`${BASE}/console/login`);
  await page.getByLabel("访问密钥 ID（AK）").fill(who.access_key);
  await page.getByLabel("秘密访问密钥（SK）").fill(who.secret_key);
  await page.getByRole("button", { name: "登录" }).click();
  await page.waitForURL(/\/console\/endpoints$/);
  const who2 = (await page.locator("#current-account").textContent()).trim();
  assert.equal(who2, who.name);
}

async function signOut() {
  await page.getByRole("button", { name: "退出" }).click();
  await page.waitForURL(/\/console\/login$/);
}

async function text(sel) {
  return ((await page.locator(sel).first().textContent()) || "").trim();
}

async function waitBadge(scope, label, timeout = 15000) {
  await scope.locator(".badge", { hasText: label }).first().waitFor({ timeout });
}

/// Every visible form control has an accessible label.
async function assertLabelled() {
  const unlabelled = await page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll("input, select, textarea")) {
      if (el.type === "hidden" || el.closest("template")) continue;
      const style = getComputedStyle(el);
      if (el.offsetParent === null && style.position !== "fixed" && !el.closest("dialog[open]")) continue;
      const named = (el.labels && el.labels.length > 0) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
      if (!named) bad.push(el.outerHTML.slice(0, 120));
    }
    return bad;
  });
  assert.deepEqual(unlabelled, [], "inputs without a label");
}

/// The page fits the viewport width (no horizontal scrolling of the whole page).
async function assertNoOverflow() {
  const { sw, iw } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
  assert.ok(sw <= iw + 1, `page is ${sw}px wide in a ${iw}px window`);
}


// ---- messages in the user's language -------------------------------------------------------
const codesSeen = new Set();
/// Every visible error message is a Chinese sentence: no English words (values the user typed,
/// quoted “…”, and CLI commands in （CLI：…） aside), full-width punctuation next to Chinese
/// text, and the error code only on its own detail line (.err-code). Returns the messages.
async function assertChineseMessages() {
  const msgs = await page.evaluate(() => [...document.querySelectorAll(".field-error, .alert-error, .verify-bad")]
    .filter((e) => e.offsetParent !== null || e.closest("dialog[open]"))
    .map((e) => {
      const c = e.cloneNode(true);
      const codes = [...c.querySelectorAll(".err-code")].map((x) => x.textContent.trim());
      c.querySelectorAll(".err-code").forEach((x) => x.remove());
      return { text: c.textContent.trim(), codes };
    }));
  assert.ok(msgs.length > 0, "an error message is shown");
  for (const m of msgs) {
    const bare = m.text.replace(/“[^”]*”/g, "").replace(/（CLI：[^）]*）/g, "");
    assert.doesNotMatch(bare, /[A-Za-z]{2,}[\s,.;:'!?-]+[A-Za-z]{2,}/, `English in the message "${m.text}"`);
    assert.match(bare, /[\u4e00-\u9fff]/, `no Chinese in the message "${m.text}"`);
    assert.doesNotMatch(m.text, /[\u4e00-\u9fff][,:;()!?]|[,:;()!?][\u4e00-\u9fff]/, `half-width punctuation in "${m.text}"`);
    for (const c of m.codes) {
      assert.match(c, /^(EndPoint|Endpoint|VPC)\.\d{4}$/, `detail line "${c}" is a code`);
      codesSeen.add(c);
    }
  }
  return msgs;
}

/// The ids of the inputs marked invalid.
async function invalidIds() {
  return page.evaluate(() => [...document.querySelectorAll("[aria-invalid=true]")]
    .filter((e) => !e.closest("template")).map((e) => e.id).sort());
}

/// Click a form's submit button and wait for the answer page.
async function submitBy(locator) {
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST"),
    locator.click(),
  ]);
  await page.waitForLoadState("load");
}

// ---- the run -------------------------------------------------------------------------------
const token = readFileSync(path.join(DATA_DIR, "agent.token"), "utf8").trim();
const agent = new TestAgent(BASE, token, { delayMs: 1500 }).start();
const net = {};
let dnsService, webService, aliceDnsEndpoint, bobEndpoint;

try {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless=new", "--no-sandbox", "--disable-gpu"] });
  await newContext();

  await test("set-up: lab networks (CLI) and the DNS cloud service (operator)", async () => {
    for (const [name, who, cidr] of [["alice", alice, "192.168.0.0/16"], ["bob", bob, "192.168.0.0/16"], ["ops", ops, "10.250.0.0/16"]]) {
      const vpc = cli(who, ["lab", "vpc", "create", `vpc-${name}`, "--cidr", cidr]).vpc;
      const sub = cli(who, ["lab", "subnet", "create", `subnet-${name}`, "--vpc", vpc.id, "--cidr", cidr.replace(/\.0\.0\/16$/, ".1.0/24")]).subnet;
      net[name] = { vpc, sub };
    }
    net.alice.lb = cli(alice, ["lab", "lb", "create", "elb-web", "--vpc", net.alice.vpc.id, "--subnet", net.alice.sub.id, "--listener", "TCP:80=192.168.1.20:8080"]).loadbalancer;
    net.alice.vm = cli(alice, ["lab", "server", "create", "ecs-web", "--vpc", net.alice.vpc.id, "--nic", net.alice.sub.id, "--nic", net.alice.sub.id]).server;
    const resolver = cli(ops, ["lab", "server", "create", "resolver", "--vpc", net.ops.vpc.id, "--nic", net.ops.sub.id]).server;
    dnsService = cli(ops, ["admin", "cloud-service", "create", "--account", "ops", "--name", "dns", "--vpc", net.ops.vpc.id,
      "--port-id", resolver.nics[0].port_id, "--ports", "53:53/udp,53:53/tcp"]);
    assert.match(dnsService.service_name, /\.dns\./);
  });

  await test("sign-in: wrong secret key is refused next to its field, access key kept", async () => {
    await page.goto(`${BASE}/console/`);
    await page.waitForURL(/\/console\/login$/);
    await assertLabelled();
    await shot("01-sign-in", "sign-in page");
    await page.getByLabel("访问密钥 ID（AK）").fill(alice.access_key);
    await page.getByLabel("秘密访问密钥（SK）").fill("not-the-secret");
    await page.getByRole("button", { name: "登录" }).click();
    assert.match(await text("#sk-err"), /访问密钥或秘密访问密钥不正确/);
    assert.equal(await page.locator("#ak").inputValue(), alice.access_key);
    assert.equal(await page.locator("#sk").getAttribute("aria-invalid"), "true");
    await shot("02-sign-in-error", "sign-in refused: message under the secret key field, access key kept");
  });

  await test("sign-in sets an HttpOnly, SameSite session cookie scoped to /console", async () => {
    await signIn(alice);
    const cookies = await context.cookies();
    const s = cookies.find((c) => c.name === "vpcep_session");
    assert.ok(s, "session cookie");
    assert.equal(s.httpOnly, true);
    assert.equal(s.sameSite, "Lax");
    assert.equal(s.path, "/console");
    assert.ok(!s.value.includes(alice.secret_key));
  });

  await test("a POST without the CSRF token is refused", async () => {
    const r = await page.request.post(`${BASE}/console/endpoints/new`, {
      form: { op: "submit", category: "name", service_name: "x" }, maxRedirects: 0,
    });
    assert.equal(r.status(), 403);
    const r2 = await page.request.post(`${BASE}/console/logout`, { form: { csrf: "00".repeat(32) }, maxRedirects: 0 });
    assert.equal(r2.status(), 403);
  });

  await test("keyboard: skip link first, navigation reachable by Tab", async () => {
    await page.goto(`${BASE}/console/endpoints`);
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
    let reached = false;
    for (let i = 0; i < 15 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement.getAttribute("href") === "/console/services");
    }
    assert.ok(reached, "终端节点服务 link reachable by keyboard");
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/console\/services$/);
  });

  await test("English switch: whole page in English, then back to Chinese", async () => {
    await page.goto(`${BASE}/console/endpoints`);
    await page.getByRole("link", { name: "切换到英文" }).click();
    await page.waitForURL(/\/console\/endpoints$/);
    assert.equal(await text("main h1"), "Endpoints");
    assert.equal(await page.locator("html").getAttribute("lang"), "en");
    // Everything but the switch back (labelled 中文) is English.
    const zh = await page.evaluate(() => /[\u4e00-\u9fff]/.test(document.querySelector(".layout").innerText));
    assert.equal(zh, false, "no Chinese left on the English page");
    await shot("03-endpoints-en", "endpoint list in English");
    await page.getByRole("link", { name: "Switch to Chinese" }).click();
    await page.waitForURL(/\/console\/endpoints$/);
    assert.equal(await text("main h1"), "终端节点");
  });

  // ---- quick-start 2.1: an endpoint to the DNS cloud service ------------------------------
  await test("quick-start 2.1: create an endpoint to the DNS cloud service (云服务, 内网域名, 规格确认)", async () => {
    await page.goto(`${BASE}/console/endpoints`);
    await shot("04-endpoints-empty", "empty endpoint list with search and 创建终端节点");
    await page.getByRole("link", { name: "创建终端节点", exact: true }).click();
    await page.waitForURL(/\/console\/endpoints\/new$/);
    await assertLabelled();
    await page.getByRole("radio", { name: "云服务", exact: true }).check();
    await page.getByLabel("选择服务").selectOption({ label: dnsService.service_name });
    await page.getByRole("checkbox", { name: "创建内网域名" }).check();
    await page.getByLabel("虚拟私有云").selectOption(net.alice.vpc.id);
    await page.getByLabel("子网").selectOption(net.alice.sub.id);
    await shot("05-endpoint-create-cloud", "create endpoint: 云服务 with the DNS service, 内网域名 checked");
    await page.getByRole("button", { name: "立即创建" }).click();
    await page.locator("h1", { hasText: "规格确认" }).waitFor();
    assert.equal(await text("#spec-service"), dnsService.service_name);
    await shot("06-endpoint-confirm", "规格确认 summary with 提交 / 上一步");
    await page.getByRole("button", { name: "上一步" }).click();
    await page.locator("h1", { hasText: "创建终端节点" }).waitFor();
    assert.equal(await page.getByLabel("选择服务").inputValue(), dnsService.id);
    assert.equal(await page.locator("#enable_dns").isChecked(), true);
    await page.getByRole("button", { name: "立即创建" }).click();
    await page.getByRole("button", { name: "提交" }).click();
    await page.waitForURL(/\/console\/endpoints\?msg=submitted$/);
    const row = page.locator("#endpoint-table tbody tr").first();
    aliceDnsEndpoint = await row.getAttribute("data-id");
    assert.ok(aliceDnsEndpoint);
    await waitBadge(row, "创建中", 1000);
    const marker = await page.evaluate(() => window.__marker);
    await shot("07-endpoints-creating", "endpoint list right after 提交: status 创建中");
    await waitBadge(row, "已接受");
    assert.equal(await page.evaluate(() => window.__marker), marker, "status changed without a reload");
    assert.equal(await page.evaluate(() => window.__cls), 0, "no layout shift while the status refreshed");
  });

  await test("quick-start 2.1: the detail shows 节点 IP and 内网域名", async () => {
    await page.getByRole("link", { name: aliceDnsEndpoint }).click();
    await page.waitForURL(new RegExp(`/console/endpoints/${aliceDnsEndpoint}$`));
    assert.match(await text("#ep-ip"), /^192\.168\.1\.\d+$/);
    assert.match(await text("#ep-dns"), /\.internal$/);
    await waitBadge(page.locator("#ep-status"), "已接受", 1000);
    await shot("08-endpoint-detail", "endpoint detail: 节点 IP, 内网域名, 已接受");
  });

  await test("search: by endpoint id and by service name", async () => {
    await page.goto(`${BASE}/console/endpoints`);
    await page.getByLabel("搜索条件").selectOption("id");
    await page.getByLabel("搜索内容").fill(aliceDnsEndpoint);
    await page.getByRole("button", { name: "搜索" }).click();
    await page.waitForLoadState("load"); // count() does not wait for the result page
    assert.equal(await page.locator("#endpoint-table tbody tr[data-id]").count(), 1);
    await page.getByLabel("搜索条件").selectOption("service_name");
    await page.getByLabel("搜索内容").fill("no-such-service");
    await page.getByRole("button", { name: "搜索" }).click();
    await page.waitForLoadState("load"); // count() does not wait for the result page
    assert.equal(await page.locator("#endpoint-table tbody tr[data-id]").count(), 0);
    await page.getByLabel("搜索内容").fill(".dns.");
    await page.getByRole("button", { name: "搜索" }).click();
    await page.waitForLoadState("load"); // count() does not wait for the result page
    assert.equal(await page.locator("#endpoint-table tbody tr[data-id]").count(), 1);
  });

  // ---- quick-start 2.2: a service with approval, another account connects -----------------
  await test("create service: bad inputs are shown next to their fields with the form still filled in", async () => {
    await page.goto(`${BASE}/console/services`);
    await page.getByRole("link", { name: "创建终端节点服务", exact: true }).click();
    await page.waitForURL(/\/console\/services\/new$/);
    await assertLabelled();
    await page.getByLabel("名称", { exact: true }).fill("bad name!");
    await page.locator("#port_server_0").fill("70000");
    await page.locator("#port_client_0").fill("80");
    await page.getByRole("button", { name: "+ 添加端口映射" }).click();
    await page.locator("#port_server_1").fill("8443");
    await page.locator("#port_client_1").fill("443");
    await page.getByRole("button", { name: "立即创建" }).click();
    await page.locator("#form-error").waitFor();
    assert.match(await text("#service_name-err"), /EndPoint\.3076/);
    assert.match(await text("#ports-0-err"), /EndPoint\.3043/);
    assert.equal(await page.getByLabel("名称", { exact: true }).inputValue(), "bad name!");
    assert.equal(await page.locator("#port_server_0").inputValue(), "70000");
    assert.equal(await page.locator("#port_server_1").inputValue(), "8443");
    await shot("10-service-create-errors", "create service refused: name and row-1 errors next to their fields, values kept");
    // A duplicate endpoint port is a list-level error.
    await page.getByLabel("名称", { exact: true }).fill("web");
    await page.locator("#port_server_0").fill("8080");
    await page.locator("#port_client_1").fill("80");
    await page.getByRole("button", { name: "立即创建" }).click();
    assert.match(await text("#ports-err"), /EndPoint\.3044/);
  });

  await test("quick-start 2.2 step 1: create a service with approval and two port mappings on the ELB", async () => {
    await page.locator("#port_client_1").fill("443");
    await page.getByRole("radio", { name: "开启", exact: true }).check();
    await page.getByRole("radio", { name: "云主机", exact: true }).check();
    assert.equal(await page.getByLabel("选择负载均衡").isVisible(), false);
    await page.getByLabel("云主机网卡").selectOption({ index: 1 }); // the secondary NIC is offered
    await page.getByRole("radio", { name: "增强型负载均衡", exact: true }).check();
    await page.getByLabel("选择负载均衡").selectOption(net.alice.lb.vip_port_id);
    assert.match(await text("#sg-note"), /198\.19\.128\.0\/20/);
    await shot("09-service-create", "create service: 名称, VPC, 接口, 连接审批 开启, two port mappings, ELB picker, 198.19.128.0/20 reminder");
    await page.getByRole("button", { name: "立即创建" }).click();
    await page.locator("h1", { hasText: "规格确认" }).waitFor();
    assert.match(await text("#spec-ports"), /TCP 8080 → 80.*TCP 8443 → 443/s);
    assert.equal(await text("#spec-approval"), "开启");
    await shot("11-service-confirm", "service 规格确认");
    await page.getByRole("button", { name: "提交" }).click();
    await page.waitForURL(/\/console\/services\?msg=submitted$/);
    const row = page.locator("#service-table tbody tr").first();
    await waitBadge(row, "创建中", 1000);
    await shot("12-services-creating", "service list: 创建中");
    await waitBadge(row, "可连接");
    assert.equal(await page.evaluate(() => window.__cls), 0, "no layout shift while the status refreshed");
    await row.locator("a").first().click();
    await page.waitForURL(/\/console\/services\/[0-9a-f-]+$/);
    webService = { id: await text("#svc-id"), name: await text("#svc-name") };
    assert.match(webService.name, /^cn-north-4\.web\./);
    await shot("13-service-detail", "service detail 基本信息");
    await page.getByRole("link", { name: "端口映射" }).click();
    await page.waitForLoadState("load");
    assert.equal(await page.locator("#port-mapping-table tbody tr").count(), 2);
    await shot("14-service-ports", "端口映射 tab: two mappings");
  });

  await test("quick-start 2.2 step 2: 我的凭证 shows bob's account id", async () => {
    await signOut();
    await signIn(bob);
    await page.getByRole("link", { name: "我的凭证" }).first().click();
    assert.equal(await text("#account-id"), bob.domain_id);
    await shot("15-credentials", "我的凭证: account name and 账号 ID");
    await signOut();
  });

  await test("quick-start 2.2 step 3: alice whitelists bob (权限管理, bad record refused in the dialog)", async () => {
    await signIn(alice);
    await page.goto(`${BASE}/console/services/${webService.id}?tab=permissions`);
    await page.getByRole("link", { name: "添加白名单记录" }).click();
    const dlg = page.locator("#perm-dialog");
    await dlg.waitFor();
    await assertLabelled();
    await dlg.locator("#permission_0").fill("domain::" + bob.domain_id);
    await dlg.getByRole("button", { name: "+ 继续添加" }).click();
    assert.match(await text("#perms-left"), /48/);
    await dlg.getByRole("button", { name: "确定" }).click();
    await page.locator("#perm-dialog[open]").waitFor();
    assert.match(await text("#perm-0-err"), /EndPoint\.3002/);
    assert.equal(await page.locator("#permission_0").inputValue(), "domain::" + bob.domain_id);
    await shot("16-whitelist-error", "添加白名单记录 dialog: bad account id refused next to its row, value kept");
    await page.locator("#permission_0").fill(`iam:domain::${bob.domain_id}`);
    await page.locator("#perm-dialog").getByRole("button", { name: "确定" }).click();
    await page.waitForURL(/tab=permissions$/);
    await page.locator("#permission-table td", { hasText: `iam:domain::${bob.domain_id}` }).waitFor();
    await shot("17-whitelist", "权限管理: bob's account on the whitelist");
    await signOut();
  });

  await test("quick-start 2.2 step 4: bob verifies the service name (验证) and creates the endpoint", async () => {
    await signIn(bob);
    await page.getByRole("link", { name: "创建终端节点", exact: true }).click();
    await page.getByRole("radio", { name: "按名称查找服务", exact: true }).check();
    await page.getByLabel("服务名称").fill(webService.name.replace("web", "wbe"));
    await page.getByRole("button", { name: "验证" }).click();
    await page.locator("#verify-result", { hasText: "未找到服务" }).waitFor();
    await shot("18-verify-not-found", "验证: 未找到服务");
    await page.getByRole("button", { name: "立即创建" }).click();
    assert.match(await text("#service_name-err"), /EndPoint\./);
    assert.equal(await page.getByLabel("服务名称").inputValue(), webService.name.replace("web", "wbe"));
    await page.getByLabel("服务名称").fill(webService.name);
    await page.getByRole("button", { name: "验证" }).click();
    await page.locator("#verify-result", { hasText: "已找到服务" }).waitFor();
    await page.getByLabel("虚拟私有云").selectOption(net.bob.vpc.id);
    await page.getByLabel("子网").selectOption(net.bob.sub.id);
    await page.getByLabel("指定节点 IP").fill("10.0.0.5");
    await shot("19-verify-found", "验证: 已找到服务");
    await page.getByRole("button", { name: "立即创建" }).click();
    await page.getByRole("button", { name: "提交" }).click();
    // The requested IP is outside bob's subnet: the form comes back with the message at the IP.
    await page.locator("#port_ip-err").waitFor();
    assert.match(await text("#port_ip-err"), /EndPoint\.2043/);
    assert.equal(await page.getByLabel("服务名称").inputValue(), webService.name);
    await shot("20-endpoint-ip-error", "bad node IP refused next to its field after 提交, form kept");
    await page.getByLabel("指定节点 IP").fill("");
    await page.getByRole("button", { name: "立即创建" }).click();
    await page.getByRole("button", { name: "提交" }).click();
    await page.waitForURL(/\/console\/endpoints\?msg=submitted$/);
    const row = page.locator("#endpoint-table tbody tr").first();
    bobEndpoint = await row.getAttribute("data-id");
    await waitBadge(row, "待接受", 1000);
    await shot("21-endpoint-pending", "bob's endpoint list: 待接受");
    await signOut();
  });

  await test("quick-start 2.2 step 5: alice accepts the connection and sees it 已接受", async () => {
    await signIn(alice);
    await page.goto(`${BASE}/console/services/${webService.id}`);
    await page.getByRole("link", { name: "连接管理" }).click();
    const row = page.locator(`#connection-table tr[data-id="${bobEndpoint}"]`);
    await waitBadge(row, "待接受", 1000);
    assert.equal(await text(`#connection-table tr[data-id="${bobEndpoint}"] td:nth-child(3)`), bob.domain_id);
    await shot("22-connections-pending", "连接管理: bob's endpoint 待接受 with 接受 / 拒绝");
    await row.getByRole("button", { name: "接受" }).click();
    await page.waitForURL(/tab=connections$/);
    const row2 = page.locator(`#connection-table tr[data-id="${bobEndpoint}"]`);
    await waitBadge(row2, "创建中", 1000);
    await waitBadge(row2, "已接受");
    assert.equal(await page.evaluate(() => window.__cls), 0, "no layout shift while the status refreshed");
    await shot("23-connections-accepted", "连接管理: 已接受");
    await signOut();
  });

  await test("narrow window (390 px): sign-in and pages fit without horizontal scrolling", async () => {
    await newContext({ width: 390, height: 844 });
    await signIn(alice);
    for (const [p, name] of [["/console/endpoints", "31-narrow-endpoints"], ["/console/services", "32-narrow-services"],
      [`/console/services/${webService.id}?tab=connections`, "33-narrow-connections"],
      ["/console/services/new", "34-narrow-service-create"], ["/console/endpoints/new", "35-narrow-endpoint-create"]]) {
      await page.goto(BASE + p);
      await assertNoOverflow();
      await assertLabelled();
      await shot(name, `${p} at 390 px`);
    }
    await newContext();
  });

  await test("quick-start 2.2 step 6: bob sees 已接受 and the node IP", async () => {
    await signIn(bob);
    await waitBadge(page.locator(`#endpoint-table tr[data-id="${bobEndpoint}"]`), "已接受", 1000);
    await page.getByRole("link", { name: bobEndpoint }).click();
    assert.match(await text("#ep-ip"), /^192\.168\.1\.\d+$/);
    await waitBadge(page.locator("#ep-status"), "已接受", 1000);
    await shot("24-bob-endpoint-detail", "bob's endpoint detail: 已接受 with 节点 IP");
    await signOut();
  });

  await test("clean-up: alice rejects (confirmation dialog), bob deletes the endpoint, alice deletes the service", async () => {
    await signIn(alice);
    await page.goto(`${BASE}/console/services/${webService.id}?tab=connections`);
    const row = page.locator(`#connection-table tr[data-id="${bobEndpoint}"]`);
    await row.getByRole("button", { name: "拒绝" }).click();
    await page.locator("#confirm-dialog[open]").waitFor();
    await shot("25-reject-dialog", "reject confirmation dialog");
    await page.locator("#confirm-dialog").getByRole("button", { name: "确定" }).click();
    await page.waitForURL(/tab=connections$/);
    await waitBadge(page.locator(`#connection-table tr[data-id="${bobEndpoint}"]`), "已拒绝", 3000);
    // 权限管理: remove bob's whitelist record (with confirmation).
    await page.getByRole("link", { name: "权限管理" }).click();
    await page.locator("#permission-table tbody tr[data-id]").first().getByRole("button", { name: /^移除/ }).click();
    await page.locator("#confirm-dialog[open]").waitFor();
    await page.locator("#confirm-dialog").getByRole("button", { name: "确定" }).click();
    // The page was already on tab=permissions, so the URL alone does not say the POST's
    // redirect has landed: wait for the record's row to go, then check none is left.
    await page.locator("#permission-table tbody tr[data-id]").first().waitFor({ state: "detached", timeout: 5000 });
    assert.equal(await page.locator("#permission-table tbody tr[data-id]").count(), 0);
    await signOut();

    await signIn(bob);
    const brow = page.locator(`#endpoint-table tr[data-id="${bobEndpoint}"]`);
    await waitBadge(brow, "已拒绝", 1000);
    await brow.getByRole("button", { name: `删除 ${bobEndpoint}` }).click();
    await page.locator("#confirm-dialog[open]").waitFor();
    assert.match(await text("#confirm-text"), new RegExp(bobEndpoint));
    await shot("26-delete-endpoint-dialog", "delete endpoint confirmation dialog");
    await page.locator("#confirm-dialog").getByRole("button", { name: "确定" }).click();
    await page.waitForURL(/msg=deleted$/);
    const gone = page.locator(`#endpoint-table tr[data-id="${bobEndpoint}"]`);
    if (await gone.count()) await waitBadge(gone, "已删除");
    await signOut();

    await signIn(alice);
    await page.goto(`${BASE}/console/endpoints`);
    const arow = page.locator(`#endpoint-table tr[data-id="${aliceDnsEndpoint}"]`);
    await arow.getByRole("button", { name: `删除 ${aliceDnsEndpoint}` }).click();
    await page.locator("#confirm-dialog").getByRole("button", { name: "确定" }).click();
    await page.waitForURL(/msg=deleted$/);
    await page.goto(`${BASE}/console/services`);
    const srow = page.locator(`#service-table tr[data-id="${webService.id}"]`);
    await srow.getByRole("button", { name: `删除 ${webService.name}` }).click();
    await page.locator("#confirm-dialog[open]").waitFor();
    await shot("27-delete-service-dialog", "delete service confirmation dialog");
    await page.locator("#confirm-dialog").getByRole("button", { name: "确定" }).click();
    await page.waitForURL(/\/console\/services\?msg=deleted$/);
    const srow2 = page.locator(`#service-table tr[data-id="${webService.id}"]`);
    if (await srow2.count()) await waitBadge(srow2, "已删除");
    await page.reload();
    assert.equal(await page.locator(`#service-table tr[data-id="${webService.id}"]`).count(), 0);
    await shot("28-services-after-delete", "service list after deletion");
  });

  await test("quotas page lists limits and usage", async () => {
    await page.goto(`${BASE}/console/quotas`);
    assert.equal(await page.locator("#quota-table tbody tr").count(), 2);
    await shot("29-quotas", "配额 page");
    await page.goto(`${BASE}/console/network`);
    await shot("30-network", "网络资源 (read-only lab inventory)");
  });


  // ---- issue 11: the console, seen by a user ------------------------------------------------
  let vmService;
  await test("FAQ 4.2 on the service detail: a backend security group without 198.19.128.0/20 is shown with its fix", async () => {
    await page.goto(`${BASE}/console/services/new`);
    await page.getByLabel("名称", { exact: true }).fill("vmcheck");
    await page.locator("#port_server_0").fill("8080");
    await page.locator("#port_client_0").fill("80");
    await page.getByRole("radio", { name: "云主机", exact: true }).check();
    await page.getByLabel("云主机网卡").selectOption({ index: 0 });
    await page.getByRole("button", { name: "立即创建" }).click();
    await page.locator("h1", { hasText: "规格确认" }).waitFor();
    await page.getByRole("button", { name: "提交" }).click();
    await page.waitForURL(/\/console\/services\?msg=submitted$/);
    const row = page.locator("#service-table tbody tr", { hasText: ".vmcheck." }).first();
    await waitBadge(row, "可连接");
    vmService = { id: await row.getAttribute("data-id") };
    await page.goto(`${BASE}/console/services/${vmService.id}`);
    const problem = page.locator("#backend-check .finding.problem").first();
    assert.match(await problem.locator(".finding-text").textContent(), /没有放通来自 198\.19\.128\.0\/20 的 TCP 8080 端口入方向流量/);
    const fix = (await problem.locator("pre code").textContent()).trim();
    assert.match(fix, /^vpcep lab sg-rule add \S+ --direction ingress --protocol tcp --ports 8080 --remote-ip 198\.19\.128\.0\/20$/);
    await shot("40-service-backend-check", "service detail: FAQ 4.2 backend check finds the security group closed to 198.19.128.0/20, with the fix");
    cli(alice, fix.split(/\s+/).slice(1));
    await page.reload();
    await page.locator("#backend-check-ok").waitFor();
    assert.equal(await page.locator("#backend-check .finding.problem").count(), 0);
    await shot("41-service-backend-check-ok", "service detail: after the fix the backend admits 198.19.128.0/20");
  });

  await test("narrow window (390 px) in Asia/Shanghai: scrolling tables say so, actions stay reachable, times in the browser's zone, port inputs fit", async () => {
    await newContext({ width: 390, height: 844 }, { timezoneId: "Asia/Shanghai" });
    await signIn(alice);
    await page.goto(`${BASE}/console/services`);
    const wraps = await page.evaluate(() => [...document.querySelectorAll(".table-wrap")].map((w) => {
      const hint = w.previousElementSibling;
      return {
        scrolls: w.scrollWidth > w.clientWidth + 1,
        hint: !!hint && hint.classList.contains("scroll-hint") && !hint.hidden && hint.offsetParent !== null ? hint.textContent : null,
      };
    }));
    assert.ok(wraps.some((w) => w.scrolls), "the service table is wider than 390 px");
    for (const w of wraps) {
      if (w.scrolls) assert.match(w.hint || "", /左右滑动/, "a scrolling table says so");
    }
    const del = page.locator(`#service-table tr[data-id="${vmService.id}"]`).getByRole("button", { name: /^删除/ });
    const box = await del.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `删除 is inside the window without scrolling (${JSON.stringify(box)})`);
    // Times: the browser's zone (UTC+8 here), UTC kept in the tooltip.
    const t = page.locator(`#service-table tr[data-id="${vmService.id}"] time`);
    const iso = await t.getAttribute("datetime");
    const shanghai = new Date(Date.parse(iso) + 8 * 3600 * 1000).toISOString().slice(0, 19).replace("T", " ");
    assert.equal((await t.textContent()).trim(), shanghai);
    assert.match(await t.getAttribute("title"), /UTC$/);
    await shot("42-narrow-services-scroll-hint", "service list at 390 px: scroll hint, 删除 column kept in view, local times");
    await page.goto(`${BASE}/console/services/new`);
    assert.doesNotMatch(await text("#region-hint"), /右上角/, "no region switch to point at with one region");
    const fits = await page.evaluate(() => [...document.querySelectorAll("#port-rows input.port-input")].map((el) => {
      const cs = getComputedStyle(el);
      const c = document.createElement("canvas").getContext("2d");
      c.font = `${cs.fontSize} ${cs.fontFamily}`;
      const need = c.measureText(el.placeholder).width + parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight) + 16;
      return { id: el.id, need, has: el.clientWidth };
    }));
    assert.ok(fits.length >= 2);
    for (const f of fits) assert.ok(f.has >= f.need, `#${f.id} is ${f.has}px for a ${f.need}px placeholder`);
    await assertNoOverflow();
    await shot("43-narrow-service-create-ports", "create service at 390 px: port inputs show their placeholder, region hint without the switch");
    await newContext();
    await signIn(alice);
  });

  await test("Chinese messages: every validation error the forms produce is a Chinese sentence, the code on a detail line, only the wrong field marked", async () => {
    await page.goto(`${BASE}/console/lang/zh?back=${encodeURIComponent("/console/services/new")}`);
    await page.waitForURL(/\/console\/services\/new$/);
    assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
    const create = () => page.getByRole("button", { name: "立即创建" });
    async function serviceForm(fill) {
      await page.goto(`${BASE}/console/services/new`);
      await page.getByLabel("名称", { exact: true }).fill("web2");
      await page.locator("#port_server_0").fill("8080");
      await page.locator("#port_client_0").fill("80");
      await fill();
      await submitBy(create());
      return assertChineseMessages();
    }
    // Name and a service port out of range: the name and that one port input are marked.
    await serviceForm(async () => {
      await page.getByLabel("名称", { exact: true }).fill("bad name!");
      await page.locator("#port_server_0").fill("70000");
    });
    assert.match(await text("#ports-0-err"), /^服务端口 70000 超出范围 1–65535。/);
    assert.equal(await text("#ports-0-err .err-code"), "EndPoint.3043");
    assert.deepEqual(await invalidIds(), ["port_server_0", "service_name"]);
    await shot("44-zh-errors-name-port", "create service: Chinese messages naming the field and value, the code on a detail line, only the wrong inputs marked");
    // An endpoint port out of range.
    await serviceForm(async () => { await page.locator("#port_client_0").fill("70000"); });
    assert.match(await text("#ports-0-err"), /^终端端口 70000 超出范围/);
    assert.deepEqual(await invalidIds(), ["port_client_0"]);
    // A mapping without its service port.
    await serviceForm(async () => { await page.locator("#port_server_0").fill(""); });
    assert.deepEqual(await invalidIds(), ["port_server_0"]);
    // No mapping at all.
    await serviceForm(async () => {
      await page.locator("#port_server_0").fill("");
      await page.locator("#port_client_0").fill("");
    });
    assert.match(await text("#ports-err"), /请至少填写一条端口映射/);
    // A repeated service port: only the repeat is marked.
    await serviceForm(async () => {
      await page.getByRole("button", { name: "+ 添加端口映射" }).click();
      await page.locator("#port_server_1").fill("8080");
      await page.locator("#port_client_1").fill("81");
    });
    assert.match(await text("#ports-err"), /^服务端口 8080（TCP）重复。/);
    assert.deepEqual(await invalidIds(), ["port_server_1"]);
    await shot("45-zh-errors-duplicate", "create service: a repeated port marks only the repeat");
    // A protocol the console does not offer (a hand-made request).
    await serviceForm(async () => {
      await page.evaluate(() => {
        const s = document.getElementById("port_protocol_0");
        s.add(new Option("SCTP", "SCTP", true, true));
      });
    });
    assert.deepEqual(await invalidIds(), ["port_protocol_0"]);
    // No load balancer picked, then one that does not exist.
    await serviceForm(async () => {
      await page.evaluate(() => { const s = document.getElementById("lb_port_id"); s.add(new Option("", "", true, true)); });
    });
    assert.match(await text("#lb_port_id-err"), /请选择负载均衡/);
    assert.deepEqual(await invalidIds(), ["lb_port_id"]);
    await serviceForm(async () => {
      await page.evaluate(() => { const s = document.getElementById("lb_port_id"); s.add(new Option("x", "no-such-port", true, true)); });
    });
    assert.match(await text("#lb_port_id-err"), /后端资源 “no-such-port” 不存在/);
    // A VPC that does not exist (after 规格确认, as the API answers it).
    await page.goto(`${BASE}/console/services/new`);
    await page.locator("#port_server_0").fill("8080");
    await page.locator("#port_client_0").fill("80");
    await submitBy(create());
    await page.locator("h1", { hasText: "规格确认" }).waitFor();
    await page.evaluate(() => { document.querySelector("#confirm-form input[name=vpc_id]").value = "no-such-vpc"; });
    await submitBy(page.getByRole("button", { name: "提交" }));
    await assertChineseMessages();
    assert.match(await text("#vpc_id-err"), /虚拟私有云 “no-such-vpc” 不存在/);

    // The endpoint form.
    async function endpointForm(fill, button = "立即创建") {
      await page.goto(`${BASE}/console/endpoints/new`);
      await page.getByLabel("虚拟私有云").selectOption(net.alice.vpc.id);
      await page.getByLabel("子网").selectOption(net.alice.sub.id);
      await fill();
      await submitBy(page.getByRole("button", { name: "立即创建" }));
      if (button === "提交") {
        await page.locator("h1", { hasText: "规格确认" }).waitFor();
        await submitBy(page.getByRole("button", { name: "提交" }));
      }
      return assertChineseMessages();
    }
    await endpointForm(async () => { await page.getByRole("radio", { name: "按名称查找服务", exact: true }).check(); });
    assert.match(await text("#service_name-err"), /请选择或输入终端节点服务/);
    await endpointForm(async () => {
      await page.getByRole("radio", { name: "按名称查找服务", exact: true }).check();
      await page.getByLabel("服务名称").fill("cn-north-4.nope.x");
    });
    assert.match(await text("#service_name-err"), /本区域没有该终端节点服务/);
    assert.deepEqual(await invalidIds(), ["service_name"]);
    await endpointForm(async () => {
      await page.getByLabel("选择服务").selectOption({ label: dnsService.service_name });
      await page.getByLabel("指定节点 IP").fill("10.0.0.300");
    }, "提交");
    assert.match(await text("#port_ip-err"), /节点 IP “10\.0\.0\.300” 不是有效的 IPv4 地址/);
    assert.deepEqual(await invalidIds(), ["port_ip"]);
    await endpointForm(async () => {
      await page.getByLabel("选择服务").selectOption({ label: dnsService.service_name });
      await page.getByLabel("指定节点 IP").fill("10.0.0.5");
    }, "提交");
    assert.match(await text("#port_ip-err"), /节点 IP 10\.0\.0\.5 不在子网 192\.168\.1\.0\/24 的地址范围内/);
    await shot("46-zh-errors-endpoint-ip", "create endpoint: node IP outside the subnet, in Chinese with the code apart");
    await endpointForm(async () => {
      await page.evaluate(() => { const s = document.getElementById("subnet_id"); s.add(new Option("x", "no-such-subnet", true, true)); });
    });
    assert.deepEqual(await invalidIds(), ["subnet_id"]);

    // The whitelist dialog.
    await page.goto(`${BASE}/console/services/${vmService.id}?tab=permissions&add=1`);
    await page.locator("#perm-dialog[open]").waitFor();
    await page.locator("#permission_0").fill("domain::abc");
    await submitBy(page.locator("#perm-dialog").getByRole("button", { name: "确定" }));
    await page.locator("#perm-dialog[open]").waitFor();
    await assertChineseMessages();
    assert.match(await text("#perm-0-err"), /授权账号 ID “domain::abc” 格式不正确/);
    assert.deepEqual(await invalidIds(), ["permission_0"]);
    await shot("47-zh-errors-whitelist", "添加白名单记录: a bad record in Chinese, the code apart");
    await page.locator("#permission_0").fill("");
    await submitBy(page.locator("#perm-dialog").getByRole("button", { name: "确定" }));
    await page.locator("#perm-dialog[open]").waitFor();
    await assertChineseMessages();
    assert.match(await text("#perm-error"), /请至少填写一个授权账号 ID/);

    // Sign-in.
    await page.goto(`${BASE}/console/endpoints`);
    await signOut();
    await page.getByLabel("访问密钥 ID（AK）").fill("");
    await submitBy(page.getByRole("button", { name: "登录" }));
    await assertChineseMessages();
    assert.deepEqual(await invalidIds(), ["ak", "sk"]);
    await signIn(alice);

    for (const c of ["EndPoint.3076", "EndPoint.3043", "EndPoint.3004", "EndPoint.2028", "EndPoint.3044", "EndPoint.3075",
      "EndPoint.3008", "EndPoint.2001", "EndPoint.2029", "EndPoint.2041", "EndPoint.2043", "EndPoint.3002"]) {
      assert.ok(codesSeen.has(c), `${c} was triggered (seen: ${[...codesSeen].join(" ")})`);
    }
  });


  await test("service creation offers only the backend types the VPC has", async () => {
    await signOut();
    await signIn(bob);
    await page.goto(`${BASE}/console/services/new`);
    // bob's VPC has neither a load balancer nor a cloud host: say so, offer no empty picker.
    assert.match(await text("#no-backend"), /所选虚拟私有云中没有负载均衡或云主机/);
    assert.equal(await page.locator("#no-backend").isVisible(), true);
    assert.equal(await page.getByRole("radio", { name: "增强型负载均衡", exact: true }).isVisible(), false);
    assert.equal(await page.locator("#lb_port_id").isVisible(), false);
    assert.equal(await page.locator("#vm_port_id").isVisible(), false);
    await shot("48-service-create-no-backend", "create service in a VPC without backends: said so, no empty picker");
    cli(bob, ["lab", "server", "create", "ecs-bob", "--vpc", net.bob.vpc.id, "--nic", net.bob.sub.id]);
    await page.reload();
    assert.equal(await page.locator("#no-backend").isVisible(), false);
    assert.equal(await page.getByRole("radio", { name: "增强型负载均衡", exact: true }).isVisible(), false);
    assert.equal(await page.getByRole("radio", { name: "云主机", exact: true }).isChecked(), true);
    assert.equal(await page.getByLabel("云主机网卡").isVisible(), true);
    await page.locator("#port_server_0").fill("8080");
    await page.locator("#port_client_0").fill("80");
    await shot("49-service-create-only-vm", "create service in a VPC with only a cloud host: only 云主机 offered");
    await page.getByRole("button", { name: "立即创建" }).click();
    await page.locator("h1", { hasText: "规格确认" }).waitFor();
    assert.match(await text("#confirm-form"), /ecs-bob/);
    await page.goto(`${BASE}/console/endpoints`);
    await signOut();
    await signIn(alice);
  });

  await test("no script errors on any page", async () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(agent.errors, []);
  });
} finally {
  await agent.stop().catch(() => {});
  if (browser) await browser.close().catch(() => {});
}

writeFileSync(path.join(SHOTS, "index.json"), JSON.stringify(shots, null, 2));
const n = (s) => results.filter((r) => r.status === s).length;
console.log(`\nscreenshots: ${shots.length} in ${SHOTS}`);
const skipped = n("skipped");
console.log(`${n("passed")} passed, ${n("failed")} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(n("failed") || skipped ? 1 : 0);

// The metrics page: while it is open, a service's traffic on the PEP listener
// (allowed and denied authorizations, malformed requests) shows up in its
// charts and its totals.
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import { cfg, openPage, shot, check } from "../harness.mjs";

// One request as the service acme-payments makes it, with its certificate.
function pep(path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: "127.0.0.1", port: cfg.pep_port, path, method: "POST", rejectUnauthorized: false,
      cert: fs.readFileSync(cfg.certs.service.cert), key: fs.readFileSync(cfg.certs.service.key),
      headers: { "Content-Type": "application/json" },
    }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const authorize = (uri) => pep("/v1/authorize", JSON.stringify({ requests: [{ uri, action: "use" }] }));

// The latest value a chart's legend states for `series`, once it is not zero.
// The charts are redrawn at every sample, so the page looks the element up at
// each poll (the function runs in the page: it can use nothing from here).
async function legendValue(page, chart, series) {
  const read = ({ chart, series, nonZero }) => {
    const figure = [...document.querySelectorAll("figure")]
      .find((f) => f.querySelector("figcaption").textContent.includes(chart));
    const text = figure?.querySelector(`li[data-series="${series}"] strong`)?.textContent ?? "absent";
    return nonZero ? !/^(0\.00 |no data|absent)/.test(text) && text : text;
  };
  try {
    return await (await page.waitForFunction(read, { chart, series, nonZero: true }, { timeout: 15000 })).jsonValue();
  } catch (e) {
    return page.evaluate(read, { chart, series, nonZero: false }); // what it said instead, for the message
  }
}

export default async function metricsChecks({ page }) {
  await check("metrics: live charts show a service's decisions, latency and errors", async () => {
    await openPage(page, "metrics");
    await page.locator("figure", { hasText: "Authorize decisions per second" }).waitFor();
    // Steady traffic while the charts are read: an allowed, a denied and a malformed request per round.
    const made = { allow: 0, deny: 0, bad: 0 };
    let running = true;
    const traffic = (async () => {
      while (running) {
        assert.equal(await authorize("secret://acme/kv/app/db#password"), 200);
        made.allow++;
        assert.equal(await authorize("secret://acme/kv/root/x"), 200);
        made.deny++;
        assert.equal(await pep("/v1/authorize", "{"), 400);
        made.bad++;
      }
    })();
    try {
      // The charts' legends carry each series' latest rate in words.
      assert.match(await legendValue(page, "Authorize decisions", "allow"), /^\d+(\.\d+)? \/s$/);
      assert.doesNotMatch(await legendValue(page, "Authorize decisions", "allow"), /^0\.00/);
      assert.doesNotMatch(await legendValue(page, "Authorize decisions", "deny"), /^0\.00/);
      assert.doesNotMatch(await legendValue(page, "Errors per second", "BAD_JSON"), /^0\.00/);
      assert.match(await legendValue(page, "PEP request latency", "p95"), /\d ms$|\d s$/);
      await page.waitForFunction(() => document.querySelectorAll("svg.chart polyline").length >= 3, null,
        { timeout: 15000 }); // a few samples: lines, not points
      await shot(page, "metrics");
    } finally {
      running = false;
      await traffic;
    }

    // The totals count every decision once (the test made cfg.authorized_before before this page).
    const total = async (key) => Number(await page.locator(`tr[data-total="${key}"] td`).last().innerText());
    const allowed = cfg.authorized_before + made.allow;
    await page.waitForFunction((n) => document.querySelector('tr[data-total="authorize decisions:allow"] td:last-child')
      ?.textContent === String(n), allowed, { timeout: 15000 });
    assert.equal(await total("authorize decisions:deny"), made.deny);
    assert.ok(await total("errors:BAD_JSON") >= made.bad);
    // Leaving the page stops the sampling.
    await page.goto(`${cfg.origin}/ui/#/overview`);
    let polled = 0;
    const count = (r) => { if (r.url().endsWith("/metrics")) polled++; };
    page.on("request", count);
    await page.waitForTimeout(4500);
    page.off("request", count);
    assert.equal(polled, 0);
  });
}

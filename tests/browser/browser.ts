/**
 * Debian's Chromium driven by playwright-core (no browser download: `apt-get install chromium`), headless,
 * with everything that would reach out to the network turned off.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const screenshotDir = new URL("../../docs/screenshots/", import.meta.url).pathname;

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/**
 * Starts headless Chromium, up to three times. A start that fails (the browser exits before its DevTools
 * endpoint opens) says nothing of the pages under test: it is reported on stderr and tried again rather
 * than failing every browser test at once.
 */
export async function launchChromium(attempts = 3): Promise<Browser> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          "--no-sandbox", // root in CI
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--disable-quic",
          "--no-first-run",
        ],
      });
    } catch (error) {
      if (attempt >= attempts) throw error;
      console.error(`Chromium did not start (attempt ${attempt} of ${attempts}); starting it again:`, error);
    }
  }
}

/** Writes docs/screenshots/<name>.png (the README shows them). */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.waitForLoadState("networkidle").catch(() => {});
  await page.screenshot({ path: `${screenshotDir}${name}.png`, fullPage: options.fullPage ?? true, animations: "disabled" });
}

/** axe-core's engine, injected into the page under test (no network: its source comes from node_modules). */
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

// The functions below run in the page: they are written as strings, since this project's TypeScript has no DOM types.

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.x A and AA rules, plus best practices). */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  await page.waitForLoadState("networkidle").catch(() => {});
  // Evaluated through the DevTools protocol, which the pages' Content-Security-Policy (script-src 'self') does not block.
  if (!(await page.evaluate("typeof window.axe === 'object'"))) await page.evaluate(axeSource);
  return page.evaluate<AxeViolation[]>(`window.axe.run(document, { resultTypes: ["violations"] }).then((result) =>
    result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) })))`);
}

/** Form controls (input, select, textarea) with no accessible label: each must have one. */
export function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
    .filter((c) => !(c.labels && c.labels.length > 0) && !c.getAttribute("aria-label") && !c.getAttribute("aria-labelledby"))
    .map((c) => c.outerHTML.slice(0, 120))`);
}

/**
 * Tabs through the page's first `stops` focus stops and returns those where focus shows no ring
 * (an outline of at least 2px: the page's :focus-visible style) — keyboard users must see where they are.
 */
export async function focusWithoutRing(page: Page, stops = 8): Promise<string[]> {
  await page.evaluate("document.activeElement && document.activeElement.blur && document.activeElement.blur()");
  const bare: string[] = [];
  for (let i = 0; i < stops; i++) {
    await page.keyboard.press("Tab");
    const seen = await page.evaluate<{ ring: boolean; what: string } | null>(`(() => {
      const element = document.activeElement;
      if (!element || element === document.body) return null;
      const style = getComputedStyle(element);
      const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
      const name = (element.textContent || element.getAttribute("aria-label") || element.getAttribute("name") || "").trim().slice(0, 40);
      return { ring, what: element.tagName.toLowerCase() + ' "' + name + '"' };
    })()`);
    if (seen && !seen.ring) bare.push(seen.what);
  }
  return bare;
}

import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** The distribution's Chromium (Debian: `apt-get install chromium`; .ci/run installs it). Nothing downloads a browser. */
export const chromiumPath = process.env.RATEWARDEN_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Where the browser tests leave their screenshots (gitignored). */
export const artifactsDir = fileURLToPath(new URL('../../test-artifacts/page/', import.meta.url));

/**
 * Headless, quiet, offline-minded flags; root needs --no-sandbox. Playwright gives every launch
 * a new empty profile of its own (it refuses --user-data-dir here) and removes it at close.
 */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium is missing at ${chromiumPath}: the page's tests drive the distribution's Chromium; install it (Debian: apt-get install -y chromium, as .ci/run does) or set RATEWARDEN_TEST_CHROMIUM to its path`,
    );
  }
  mkdirSync(artifactsDir, { recursive: true });
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      ...extraArgs,
    ],
  });
}

/** Every console error and uncaught exception of a page, to assert there are none. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
  return errors;
}

/**
 * Finds a Chromium or Chrome for the browser test (playwright-core never
 * downloads one): CHROMIUM_PATH if set, else the usual places on Linux and
 * macOS.
 */
import { accessSync, constants } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const chromiumCandidates: readonly string[] = [
  '/usr/bin/chromium', // Debian, Ubuntu without snap
  '/usr/bin/chromium-browser', // Ubuntu, Fedora, Alpine
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

export interface ChromiumSearch {
  /** The browser to launch, or undefined when none was found. */
  path: string | undefined;
  /** Where it looked, in order (for the message when it found none). */
  looked: string[];
}

/** CHROMIUM_PATH wins when set (and is the only place looked at then); otherwise the first candidate found. */
export function findChromium(
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => boolean = isExecutable,
): ChromiumSearch {
  const chosen = env.CHROMIUM_PATH;
  if (chosen !== undefined && chosen !== '') {
    return { path: exists(chosen) ? chosen : undefined, looked: [`CHROMIUM_PATH=${chosen}`] };
  }
  return {
    path: chromiumCandidates.find((path) => exists(path)),
    looked: ['CHROMIUM_PATH (not set)', ...chromiumCandidates],
  };
}

/** How to get a browser, for requireExternal's message. */
export function chromiumHint(search: ChromiumSearch): string {
  return [
    'The dashboard test drives a real Chromium or Chrome with playwright-core.',
    `Looked at: ${search.looked.join(', ')}.`,
    'Install one (Debian/Ubuntu, as root: apt-get install -y --no-install-recommends chromium),',
    'or point CHROMIUM_PATH at a Chromium or Chrome executable.',
  ].join('\n');
}

/** The flags every browser test launches with: headless, no sandbox (CI runs as root), no GPU, no calls home. */
export const chromiumFlags: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
];

/** Launches the browser that findChromium() found (only where it found one: describe.runIf). */
export function launchChromium(search: ChromiumSearch): Promise<Browser> {
  if (search.path === undefined) throw new Error(chromiumHint(search));
  return chromium.launch({ executablePath: search.path, args: [...chromiumFlags] });
}

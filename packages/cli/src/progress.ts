import type { RebuildProgress } from '@postbus/db';

export interface TextOut {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

/** `[#####.....] 52% mail MAIL 5200/10000` */
export function progressLine(p: RebuildProgress, width = 10): string {
  const ratio = p.target > 0 ? Math.min(1, p.position / p.target) : 1;
  const filled = Math.floor(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${p.projection} ${p.stream} ${p.position}/${p.target}`;
}

/**
 * Draws progress on a terminal in place; elsewhere (a log file, CI) one line per tenth,
 * so the output stays short.
 */
export function progressPrinter(out: TextOut): (p: RebuildProgress) => void {
  let lastTenth = -1;
  let lastKey = '';
  return (p) => {
    const key = `${p.projection}/${p.stream}`;
    const done = p.position >= p.target;
    if (key !== lastKey) {
      lastKey = key;
      lastTenth = -1;
    }
    if (out.isTTY) {
      out.write(`\r${progressLine(p)}\x1b[K${done ? '\n' : ''}`);
      return;
    }
    const tenth = p.target > 0 ? Math.floor((10 * p.position) / p.target) : 10;
    if (tenth === lastTenth) return;
    lastTenth = tenth;
    out.write(`${progressLine(p)}\n`);
  };
}

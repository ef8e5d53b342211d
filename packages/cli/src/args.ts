/** `postbus <words...> [--flag] [--key value] [--key=value] [-- rest...]`: positionals in order, flags by name. */
export interface ParsedArgs {
  readonly positionals: readonly string[];
  readonly flags: Readonly<Record<string, string | true>>;
}

export function parseArgs(argv: readonly string[], valued: ReadonlySet<string> = new Set()): ParsedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      if (eq > 0) flags[arg.slice(2, eq)] = arg.slice(eq + 1);
      else if (valued.has(arg.slice(2)) && i + 1 < argv.length) flags[arg.slice(2)] = argv[++i]!;
      else flags[arg.slice(2)] = true;
    } else if (arg === '-h') {
      flags.help = true;
    } else {
      positionals.push(arg);
    }
  }
  return { positionals, flags };
}

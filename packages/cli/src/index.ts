export { runCli, commands, findCommand, helpText, UsageError, type Command, type CommandContext, type CliIo } from './cli.js';
export { parseArgs, type ParsedArgs } from './args.js';
export { progressLine, progressPrinter, type TextOut } from './progress.js';
export { rebuildProjections, type RebuildOptions, type RebuildSummary } from './commands/projections.js';
export { migrateDatabase } from './commands/migrate.js';
export { runDemo, type DemoOptions } from './commands/demo/index.js';

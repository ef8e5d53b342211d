import { migrate, type Database } from '@postbus/db';

/** Applies the migrations not yet applied; returns their file names. */
export async function migrateDatabase(opts: { readonly db: Database }): Promise<string[]> {
  return migrate(opts.db);
}

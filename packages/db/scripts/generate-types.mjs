// Regenerates src/__generated__ (pg-typed record types) from the migrations:
// a scratch database, the migrations, @databases/pg-schema-cli, then imports fixed for NodeNext.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connectDatabase, migrate } from '../dist/index.js';

const base = process.env.POSTBUS_TYPEGEN_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/postgres';
const name = `postbus_typegen_${process.pid}`;
const admin = connectDatabase({ url: base, poolSize: 1 });
const { sql } = await import('@databases/pg');
await admin.query(sql`CREATE DATABASE ${sql.ident(name)}`);
const url = base.replace(/\/[^/]*$/, `/${name}`);
try {
  const db = connectDatabase({ url, poolSize: 1 });
  await migrate(db);
  await db.dispose();
  const dir = fileURLToPath(new URL('../src/__generated__', import.meta.url));
  execFileSync(fileURLToPath(new URL('../node_modules/.bin/pg-schema', import.meta.url)), ['--database', url, '--directory', dir], { stdio: 'inherit' });
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
    const path = `${dir}/${f}`;
    const text = readFileSync(path, 'utf8').replace(
      /^import (\w+), \{([^}]+)\} from '(\.\/[^']+)'$/gm,
      (_m, def, named, from) => `import type ${def} from '${from}.js'\nimport type {${named}} from '${from}.js'`,
    )
      .replace(/^import (?!type )(.+) from '(\.\/[^']+?)(?<!\.js)'$/gm, "import type $1 from '$2.js'")
      .replace(/^export default (\w+);$/gm, 'export type { $1 as default };');
    writeFileSync(path, text);
  }
} finally {
  await admin.query(sql`DROP DATABASE IF EXISTS ${sql.ident(name)}`);
  await admin.dispose();
}

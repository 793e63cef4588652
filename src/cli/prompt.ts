/** Reading answers from the user (login, prune confirmation). */

/** Read one line from a terminal without echoing it (passwords). Ctrl-C aborts, backspace edits. */
function readHidden(stdin: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new Error('interrupted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export async function readLine(stdin: NodeJS.ReadStream, stdout: NodeJS.WriteStream, question: string, muted = false): Promise<string> {
  stdout.write(question);
  if (muted && stdin.isTTY) {
    try {
      return await readHidden(stdin);
    } finally {
      stdout.write('\n');
    }
  }
  // readline is loaded only when a command asks the user something.
  const rl = process.getBuiltinModule('node:readline').createInterface({ input: stdin, terminal: false });
  try {
    return await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
  } finally {
    rl.close();
  }
}

export async function readAllStdin(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks).toString('utf8');
}

/** Docker's "[y/N]" confirmation; anything but y/yes is no. */
export async function confirm(stdin: NodeJS.ReadStream, stdout: NodeJS.WriteStream, message: string): Promise<boolean> {
  const answer = await readLine(stdin, stdout, `${message}\nAre you sure you want to continue? [y/N] `);
  return /^y(es)?$/i.test(answer.trim());
}

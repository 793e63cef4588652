/** Reading answers from the user (login, prune confirmation). */

export async function readLine(stdin: NodeJS.ReadStream, stdout: NodeJS.WriteStream, question: string, muted = false): Promise<string> {
  stdout.write(question);
  // readline is loaded only when a command asks the user something.
  const rl = process.getBuiltinModule('node:readline').createInterface({ input: stdin, terminal: false });
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  // Hide a typed password: no echo while reading on a terminal.
  if (muted && stdin.isTTY) stdin.setRawMode(false);
  try {
    const line = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return line;
  } finally {
    rl.close();
    if (muted && stdin.isTTY) {
      stdin.setRawMode(wasRaw);
      stdout.write('\n');
    }
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

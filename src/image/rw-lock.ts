/**
 * A readers–writer lock for one process: many operations that add content
 * (pull, load, import) share it; garbage collection takes it alone, so a blob
 * written but not yet referenced by an image record is never swept.
 * Writers are preferred: once GC is waiting, new readers queue behind it.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly waiting: Array<{ write: boolean; wake: () => void }> = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await fn();
    } finally {
      this.release(false);
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await fn();
    } finally {
      this.release(true);
    }
  }

  /** Run `fn` alone if the lock is free right now; otherwise do not wait and return { ran: false }. */
  async tryExclusive<T>(fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    if (!this.canEnter(true) || this.waiting.length > 0) return { ran: false };
    this.enter(true);
    try {
      return { ran: true, value: await fn() };
    } finally {
      this.release(true);
    }
  }

  private acquire(write: boolean): Promise<void> {
    if (this.canEnter(write) && this.waiting.length === 0) {
      this.enter(write);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ write, wake: resolve }));
  }

  private canEnter(write: boolean): boolean {
    return write ? !this.writer && this.readers === 0 : !this.writer;
  }

  private enter(write: boolean): void {
    if (write) this.writer = true;
    else this.readers++;
  }

  private release(write: boolean): void {
    if (write) this.writer = false;
    else this.readers--;
    while (this.waiting.length > 0 && this.canEnter(this.waiting[0]!.write)) {
      const next = this.waiting.shift()!;
      this.enter(next.write);
      next.wake();
      if (next.write) break;
    }
  }
}

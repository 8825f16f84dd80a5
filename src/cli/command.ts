/** One `pathbox` sub-command; `name` may have two words (`slide info`). */
export interface Command {
  name: string;
  usage: string;
  summary: string;
  run(argv: string[]): Promise<void>;
}

type TorrcOptions = Record<string, string | number | boolean | Array<string | number>> | undefined;
export function networkRisk(options: TorrcOptions): string | undefined;
export function assertOffline<T extends TorrcOptions>(options: T, what?: string): T;
export function offlineLaunch<T extends { dataDirectory: string; options?: TorrcOptions }>(launchOptions: T): T;
export function offlineOptions(extra?: Record<string, string | number | boolean | Array<string | number>>): Record<string, string | number | boolean | Array<string | number>>;
export function assertOfflineArgs(args: string[], what?: string): string[];
export function assertOfflineSpec(file: string): string;

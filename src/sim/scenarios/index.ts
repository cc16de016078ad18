// Every scenario `livepatch sim list` shows.

import { ScenarioRegistry } from '../scenario.js';
import { seedScenarios } from './seed.js';
import { selftests } from './selftests.js';

export const scenarios = new ScenarioRegistry();
for (const s of [...selftests, ...seedScenarios]) scenarios.add(s);

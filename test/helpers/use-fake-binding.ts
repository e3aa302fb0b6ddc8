// Import first, before any src/ module that loads the addon.
import { installFakeBinding } from './fake-binding.js';

installFakeBinding();

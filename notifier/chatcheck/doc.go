// Package chatcheck holds the test that checks every rendered Slack, Teams and Mattermost
// payload of the notifier's conformance cases with each service's own client library
// (scripts/chatcheck: adaptivecards, @slack/types with TypeScript, @mattermost/commonmark,
// run by Node), and the writer of the payloads that scripts/chat-pictures.sh renders. It
// has no code outside its tests.
package chatcheck

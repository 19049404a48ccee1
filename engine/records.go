package engine

import "github.com/kitaruhq/kitaru/engine/runstore"

// The records of runs are runstore's; these names keep the engine's API
// whole for its callers.
type (
	RunStatus    = runstore.RunStatus
	StepStatus   = runstore.StepStatus
	Run          = runstore.Run
	StepResult   = runstore.StepResult
	ItemResult   = runstore.ItemResult
	Attempt      = runstore.Attempt
	Turn         = runstore.Turn
	WaitInfo     = runstore.WaitInfo
	EventType    = runstore.EventType
	Event        = runstore.Event
	LogLine      = runstore.LogLine
	RunMeta      = runstore.RunMeta
	PlanStep     = runstore.PlanStep
	IndexEntry   = runstore.IndexEntry
	ReusedGroup  = runstore.ReusedGroup
	Spend        = runstore.Spend
	DamagedError = runstore.DamagedError
	DamagedRuns  = runstore.DamagedRuns
	HeldError    = runstore.HeldError
	Reason       = runstore.Reason
	ModelChange  = runstore.ModelChange
	FlowChange   = runstore.FlowChange
	Ending       = runstore.Ending
	ParentRef    = runstore.ParentRef
)

// Run and step statuses, as in the command-line contract.
const (
	RunRunning     = runstore.RunRunning
	RunWaiting     = runstore.RunWaiting
	RunCompleted   = runstore.RunCompleted
	RunFailed      = runstore.RunFailed
	RunCancelled   = runstore.RunCancelled
	RunInterrupted = runstore.RunInterrupted

	StepPending   = runstore.StepPending
	StepRunning   = runstore.StepRunning
	StepWaiting   = runstore.StepWaiting
	StepCompleted = runstore.StepCompleted
	StepFailed    = runstore.StepFailed
	StepSkipped   = runstore.StepSkipped
)

// The events a run emits.
const (
	EventRunStarted      = runstore.EventRunStarted
	EventStepStarted     = runstore.EventStepStarted
	EventStepRetrying    = runstore.EventStepRetrying
	EventItemFinished    = runstore.EventItemFinished
	EventStepFinished    = runstore.EventStepFinished
	EventLeftoverStopped = runstore.EventLeftoverStopped
	EventRunFinished     = runstore.EventRunFinished
	EventFlowChanged     = runstore.EventFlowChanged
)

// ErrNotFound is wrapped by errors about runs that do not exist.
var ErrNotFound = runstore.ErrNotFound
